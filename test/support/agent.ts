/**
 * Runs the built agent (`node dist/cli/pidstream.cjs run …`: the launcher every deployment
 * uses, which sizes libuv's thread pool) as a real process for a test, and reads back what it
 * wrote. Tests stop the agent (SIGTERM: everything reported before the stop is
 * handled and flushed) before they read its files, so no test waits on a clock.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import avro from 'avsc';

import { distFile } from '../../common/paths.js';
import { EVENT_NAMES, type EventName, eventType } from '../../schemas/index.js';

const READY_TIMEOUT_MS = 60_000;
const STDIO: ['ignore', 'ignore', 'pipe'] = ['ignore', 'ignore', 'pipe'];
const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const STOP_TIMEOUT_MS = 60_000;

export type EventRecord = Record<string, unknown> & { type: 'exit' | 'coredump' | 'agent' };

export interface ExitEvent extends EventRecord {
  type: 'exit';
  process: { boot_id: string; pidfs_ino: number | null; pid: number; start_time: number | null };
  ppid: number | null;
  comm: string;
  exe: string | null;
  argv: string[];
  credentials: { ruid: number; euid: number } | null;
  user: string | null;
  wait_status: number | null;
  exit_code: number | null;
  signal: number | null;
  signal_name: string | null;
  core_dumped: boolean;
  classification: string;
  coredump_mask: number | null;
  cgroup: { id: number | null; path: string | null };
  source: string;
  discovery: string;
  unreaped: boolean;
}

export interface AgentEventRecord extends EventRecord {
  type: 'agent';
  agent: { seq: number };
  kind: string;
  message: string;
  attributes: Record<string, string>;
}

/** The AgentEvents among `events`, in order. */
export function agentEvents(events: EventRecord[]): AgentEventRecord[] {
  return events.filter((e): e is AgentEventRecord => e.type === 'agent');
}

export interface AgentRun {
  readonly outDir: string;
  readonly child: ChildProcess;
  /** Everything the agent wrote on stderr so far. */
  stderr(): string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** Removes the output directory. */
  cleanup(): void;
}

/** Starts the agent on a fresh output directory and waits until it watches. */
export async function startAgent(
  extraArgs: string[] = [],
  opts: { asNobody?: boolean; env?: NodeJS.ProcessEnv } = {},
): Promise<AgentRun> {
  const outDir = mkdtempSync(join(tmpdir(), 'pidstream-agent-'));
  const agentArgs = [
    distFile('cli/pidstream.cjs'),
    'run',
    '--out',
    outDir,
    '--no-status',
    // core_pattern is global: the exit tests leave it alone.
    '--no-coredumps',
    ...extraArgs,
  ];
  if (opts.asNobody === true) chmodSync(outDir, 0o777);
  const env = opts.env ?? process.env;
  // setpriv execs node in place, so the child's pid is the agent's.
  const child =
    opts.asNobody === true
      ? spawn('setpriv', [...NOBODY, process.execPath, ...agentArgs], { stdio: STDIO, env })
      : spawn(process.execPath, agentArgs, { stdio: STDIO, env });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`agent not ready after ${READY_TIMEOUT_MS} ms: ${err}`)),
      READY_TIMEOUT_MS,
    );
    child.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('"msg":"agent started"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`agent exited with ${code} before it was ready: ${err}`));
    });
  });
  return {
    outDir,
    child,
    stderr: () => err,
    stop: async () => {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
    cleanup: () => rmSync(outDir, { recursive: true, force: true }),
  };
}

const KIND: Record<EventName, EventRecord['type']> = {
  ProcessExit: 'exit',
  Coredump: 'coredump',
  AgentEvent: 'agent',
};

/**
 * Every event in the agent's files, in file-name order (the files' names sort by time). Each
 * record is read raw (its union branch, then the record) and decoded with its own event type.
 */
export async function readEvents(outDir: string): Promise<EventRecord[]> {
  const files = readdirSync(outDir)
    .filter((f) => f.endsWith('.avro'))
    .sort();
  const events: EventRecord[] = [];
  for (const file of files) {
    // The file's union of records is read as wrapped values (unwrapped it does not compile),
    // re-encoded to its bytes, and decoded with the record's own type: plain values out.
    let fileType: avro.Type | undefined;
    await new Promise<void>((resolve, reject) => {
      avro
        .createFileDecoder(join(outDir, file), {
          parseHook: (schema) => {
            fileType = avro.Type.forSchema(schema, { wrapUnions: true });
            return fileType;
          },
        })
        .on('data', (wrapped: object) => {
          const raw = fileType!.toBuffer(wrapped);
          const name = EVENT_NAMES[raw[0]! >> 1]!;
          const record = eventType(name).fromBuffer(raw.subarray(1)) as Record<string, unknown>;
          events.push({ ...record, type: KIND[name] });
        })
        .on('end', resolve)
        .on('error', reject);
    });
  }
  return events;
}

/** ProcessExit events whose argv holds `marker`. */
export function exitsTagged(events: EventRecord[], marker: string): ExitEvent[] {
  return events.filter(
    (e): e is ExitEvent =>
      e.type === 'exit' && (e as ExitEvent).argv.some((a) => a.includes(marker)),
  );
}

/** Runs a command to its end; resolves with its pid and exit code or signal. */
export function runToEnd(
  command: string,
  args: string[],
  opts: { cwd?: string } = {},
): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore', cwd: opts.cwd });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ pid: child.pid ?? -1, code, signal }));
  });
}

/** A marker unique to one test, to find its processes among everything else on the host. */
export function marker(name: string): string {
  return `pidstream-test-${name}-${process.pid}-${Date.now()}`;
}
