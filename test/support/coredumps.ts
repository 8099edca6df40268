/**
 * Running the built agent with crash capture on, for the coredump suites. Every run holds the
 * core_pattern lock (withCorePattern), so core_pattern is restored whatever happens, and waits
 * until no other agent on the machine holds core_pattern (another suite's agent would make
 * this one run without crash capture).
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { packageRoot } from '../../common/paths.js';
import { corePatternHolder } from '../../ingest/coredump/takeover.js';
import { type AgentRun, type EventRecord, readEvents, startAgent } from './agent.js';
import { withCorePattern } from './core-pattern.js';

/**
 * The suites' own socket and state file: an agent another suite leaves running holds the
 * default ones, and two agents must not share them.
 */
export const TEST_DIR = '/run/pidstream-coredump-test';
export const SOCKET_PATH = `${TEST_DIR}/coredump.sock`;
export const STATE_PATH = `${TEST_DIR}/core_pattern.state`;
/** `--coredumps` undoes the `--no-coredumps` the other suites' agents start with. */
export const CAPTURE_ARGS = [
  '--coredumps',
  '--coredump-socket',
  SOCKET_PATH,
  '--core-pattern-state',
  STATE_PATH,
];
const HOLDER_WAIT_MS = 60_000;

export interface CoredumpEvent extends EventRecord {
  type: 'coredump';
  agent: { seq: number };
  process: { boot_id: string; pidfs_ino: number | null; pid: number; start_time: number | null };
  comm: string;
  exe: string | null;
  argv: string[];
  signal: number | null;
  signal_name: string | null;
  si_code: number | null;
  fault_address: number | null;
  thread_count: number | null;
  crashing_tid: number | null;
  coredump_mask: number | null;
  verdict: string;
  verdict_reason: string | null;
  core_size: number;
  truncated: boolean;
  stored: { path: string; stored_size: number; sha256: string; sensitive: boolean } | null;
  modules: { path: string; start: number; end: number; build_id: string | null }[];
  backtrace: { module: string | null; build_id: string | null; offset: number; method: string }[];
  signature: string | null;
  analysis_error: string | null;
  root_mount: { mnt_ns_id: number; fs_type: string } | null;
  cwd: string | null;
  blocked_us: number | null;
}

async function waitForNoHolder(): Promise<void> {
  const deadline = Date.now() + HOLDER_WAIT_MS;
  while (corePatternHolder(STATE_PATH) !== null) {
    if (Date.now() > deadline) throw new Error(`another agent holds core_pattern (${STATE_PATH})`);
    await sleep(200);
  }
}

/**
 * Starts the agent (crash capture on, `args` added), runs `body`, stops the agent with
 * SIGTERM and returns what `body` returned with every event the agent wrote.
 */
export async function withCrashAgent<T>(
  args: string[],
  body: (agent: AgentRun) => Promise<T>,
): Promise<{ result: T; events: EventRecord[]; exitCode: number | null }> {
  return withCorePattern(async () => {
    await waitForNoHolder();
    const agent = await startAgent([...CAPTURE_ARGS, ...args]);
    try {
      const result = await body(agent);
      const exitCode = await agent.stop();
      return { result, events: await readEvents(agent.outDir), exitCode };
    } finally {
      await agent.stop();
      agent.cleanup();
    }
  });
}

export interface Crash {
  pid: number;
  signal: NodeJS.Signals | null;
  stdout: string;
}

/** Runs a program to its death and returns its pid, signal and output. */
export function crash(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<Crash> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', 'pipe', 'ignore'],
      env,
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.on('error', reject);
    child.on('close', (_code, signal) => resolve({ pid: child.pid ?? -1, signal, stdout }));
  });
}

export function coredumps(events: EventRecord[]): CoredumpEvent[] {
  return events.filter((e): e is CoredumpEvent => e.type === 'coredump');
}

export function coredumpOf(events: EventRecord[], pid: number): CoredumpEvent {
  const found = coredumps(events).filter((e) => e.process.pid === pid);
  if (found.length !== 1) throw new Error(`${found.length} Coredump events for pid ${pid}`);
  return found[0] as CoredumpEvent;
}

/** Peak resident memory of a process in bytes (VmHWM). */
export function peakRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB/m.exec(status)?.[1] ?? 0) * 1024;
}

export function stateFileExists(): boolean {
  return existsSync(STATE_PATH);
}

/** Builds test/fixtures/crashers/heap-gib.c (a process with a large core) into `dir`. */
export function buildHeapGib(dir: string): string {
  const binary = join(dir, 'heap-gib');
  const source = join(packageRoot(), 'test', 'fixtures', 'crashers', 'heap-gib.c');
  execFileSync('gcc', ['-O1', '-o', binary, source]);
  return binary;
}

/** ELF64 program header type of a loadable segment (include/uapi/linux/elf.h). */
const PT_LOAD = 1;
const PAGE_BYTES = 4096;
/**
 * glibc serves a large malloc from its own mmap and hands out the address 16 bytes past the
 * start of the mapping (two size words of chunk header on x86-64): heap-gib's word for each
 * page lies there.
 */
const MALLOC_MMAP_HEADER_BYTES = 16;

/**
 * How many of heap-gib's pages a core holds whole and in their place: the process wrote the
 * offset of each page into it, so a chunk of the stream that was lost, repeated or written
 * over shows as a page out of sequence. Returns the length of the run from the first page.
 */
export function heapGibPagesInOrder(core: Buffer, mib: number): number {
  const pages = (mib * 1024 * 1024) / PAGE_BYTES;
  const phoff = Number(core.readBigUInt64LE(0x20));
  const phentsize = core.readUInt16LE(0x36);
  const phnum = core.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * phentsize;
    if (core.readUInt32LE(ph) !== PT_LOAD) continue;
    const offset = Number(core.readBigUInt64LE(ph + 8));
    const filesz = Number(core.readBigUInt64LE(ph + 32));
    if (filesz < pages * PAGE_BYTES) continue;
    const word = (page: number): bigint =>
      core.readBigUInt64LE(offset + page * PAGE_BYTES + MALLOC_MMAP_HEADER_BYTES);
    const segmentPages = filesz / PAGE_BYTES;
    let first = 0;
    while (first + 1 < segmentPages && !(word(first) === 0n && word(first + 1) === 4096n)) first++;
    let run = 0;
    while (run < pages && first + run < segmentPages && word(first + run) === BigInt(run * 4096))
      run++;
    return run;
  }
  return 0;
}
