/**
 * `npm run bench:cores`: how fast the coredump server takes a 1 GiB core, against a minimal C
 * server measured in the same run (bench/cores/baseline.c, built here with gcc), so the ratio
 * holds on a busy machine. Two modes: analysed only (C reads and discards) and analysed and
 * stored (C writes to disk and fsyncs). Each round runs C and then pidstream, back to back, in
 * both modes; the table shows medians over the rounds. "of C" is the median of the rounds' own
 * ratios, with their range: the machine's speed drifts between rounds (other work, the page
 * cache, the file system's state), and a ratio of two medians taken from different rounds
 * swings with it.
 *
 * "stream" is the time from accept() to the end of the core: what the dumping kernel waits
 * for. "held" is what the crashing process saw: from its last output before the crash to its
 * exit as its parent observed it. "CPU" is what the server process spent on the crash, all
 * threads (for pidstream: the main thread, the reader thread, the koffi and libuv threads and
 * the analyser's worker), which a busy machine distorts less than wall-clock rates. pidstream's
 * two servers (analysed, and analysed + stored) start once before the rounds, as the agent's
 * server starts once, so their threads' start-up is not counted against a crash.
 *
 * Environment: PIDSTREAM_BENCH_CORE_MIB (default 1024), PIDSTREAM_BENCH_ROUNDS (default 7).
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Piscina } from 'piscina';

import { hostName, readBootId } from '../../common/host.js';
import { distFile, packageRoot } from '../../common/paths.js';
import { poolAnalyser, type TaskRunner } from '../../ingest/coredump/analyser.js';
import { CorePolicy, DEFAULT_CORE_POLICY } from '../../ingest/coredump/policy.js';
import { CoredumpServer, type CrashReport } from '../../ingest/coredump/server.js';
import { CoreStore } from '../../ingest/coredump/store.js';
import { withCorePattern, writeCorePattern } from '../../test/support/core-pattern.js';
import type { WorkerContext } from '../../workers/protocol.js';

const CORE_MIB = Number(process.env.PIDSTREAM_BENCH_CORE_MIB ?? 1024);
const ROUNDS = Number(process.env.PIDSTREAM_BENCH_ROUNDS ?? 7);
const MIB = 1024 * 1024;

interface Sample {
  bytes: number;
  streamSeconds: number;
  heldSeconds: number;
  /** CPU seconds the server process spent on the crash (all its threads). */
  cpuSeconds: number;
  analysed: boolean;
}

function build(dir: string, source: string, name: string): string {
  const out = join(dir, name);
  execFileSync('gcc', ['-O2', '-o', out, join(packageRoot(), source)]);
  return out;
}

/** Runs the crasher; resolves with the seconds from its "ready" line to its exit. */
function crash(crasher: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(crasher, [String(CORE_MIB)], { stdio: ['ignore', 'pipe', 'ignore'] });
    let readyAt = 0;
    child.stdout.on('data', () => (readyAt ||= performance.now()));
    child.on('error', reject);
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGSEGV') reject(new Error(`crasher ended by ${signal}, not SIGSEGV`));
      else resolve((performance.now() - readyAt) / 1000);
    });
  });
}

async function cServer(
  baseline: string,
  crasher: string,
  dir: string,
  disk: boolean,
): Promise<Sample> {
  const socket = join(dir, 'c.sock');
  const args = [socket, disk ? 'disk' : 'discard', join(dir, 'c.core')];
  const child = spawn(baseline, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  const ready = new Promise<void>((resolve) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      lines.push(...chunk.split('\n').filter((l) => l !== ''));
      if (lines.length === 1) resolve();
    });
  });
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  await ready;
  writeCorePattern(`@@${socket}`);
  const heldSeconds = await crash(crasher);
  await exited;
  rmSync(join(dir, 'c.core'), { force: true });
  const result = JSON.parse(lines[1] ?? '{}') as {
    bytes: number;
    seconds: number;
    cpuSeconds: number;
  };
  return {
    bytes: result.bytes,
    streamSeconds: result.seconds,
    heldSeconds,
    cpuSeconds: result.cpuSeconds,
    analysed: false,
  };
}

/** One of the agent's servers, started once for all rounds as the agent starts it once. */
class OurServer {
  readonly socket: string;
  readonly #server: CoredumpServer;
  readonly #storeDir: string | null;
  #report: CrashReport | null = null;

  constructor(pool: TaskRunner, dir: string, name: string, store: boolean) {
    this.socket = join(dir, `${name}.sock`);
    this.#storeDir = store ? join(dir, `${name}-store`) : null;
    this.#server = new CoredumpServer({
      socketPath: this.socket,
      protocol: 'ack',
      policy: new CorePolicy({
        ...DEFAULT_CORE_POLICY,
        ratePerExe: 0,
        maxCoreBytes: 4 * 1024 ** 3,
      }),
      store:
        this.#storeDir === null
          ? null
          : new CoreStore({ dir: this.#storeDir, maxBytes: 8 * 1024 ** 3, keepFreeBytes: 0 }),
      analyser: poolAnalyser(pool),
      onCrash: (r) => (this.#report = r),
      onError: (err) => {
        throw err;
      },
    });
    this.#server.start();
  }

  async sample(crasher: string): Promise<Sample> {
    this.#report = null;
    writeCorePattern(`@@${this.socket}`);
    const cpuBefore = process.cpuUsage();
    // COREDUMP_WAIT holds the process until its report is out, so the report is here at exit.
    const heldSeconds = await crash(crasher);
    const cpu = process.cpuUsage(cpuBefore);
    const r = this.#report as CrashReport | null;
    if (r === null) throw new Error('the server reported no crash');
    if (r.stored !== null) rmSync(r.stored.path);
    return {
      bytes: r.coreSize,
      streamSeconds: r.blockedUs / 1e6,
      heldSeconds,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      analysed: r.analysis.signal !== null,
    };
  }

  async stop(): Promise<void> {
    await this.#server.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

function mibPerSecond(s: Sample): number {
  return s.bytes / MIB / s.streamSeconds;
}

function percent(ratio: number): string {
  return `${(ratio * 100).toFixed(0)}%`;
}

function row(name: string, samples: Sample[], base: Sample[] | null): string[] {
  const ratios =
    base === null ? [] : samples.map((s, i) => mibPerSecond(s) / mibPerSecond(base[i]!));
  return [
    name,
    median(samples.map(mibPerSecond)).toFixed(0),
    base === null ? '' : percent(median(ratios)),
    base === null ? '' : `${percent(Math.min(...ratios))}-${percent(Math.max(...ratios))}`,
    (median(samples.map((s) => s.streamSeconds)) * 1000).toFixed(0),
    (median(samples.map((s) => s.heldSeconds)) * 1000).toFixed(0),
    (median(samples.map((s) => s.cpuSeconds)) * 1000).toFixed(0),
    samples.every((s) => s.analysed) ? 'yes' : base === null ? '' : 'NO',
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-bench-cores-'));
  const baseline = build(dir, 'bench/cores/baseline.c', 'baseline');
  const crasher = build(dir, 'test/fixtures/crashers/heap-gib.c', 'heap-gib');
  const context: WorkerContext = {
    host: hostName(),
    bootId: readBootId(),
    cgroupRoot: null,
    passwdPath: '/etc/passwd',
  };
  const pool = new Piscina({
    filename: distFile('workers/task.js'),
    workerData: context,
    maxThreads: 1,
  });
  const samples = {
    cDiscard: [] as Sample[],
    ours: [] as Sample[],
    cDisk: [] as Sample[],
    oursStored: [] as Sample[],
  };
  const analysed = new OurServer(pool, dir, 'analysed', false);
  const stored = new OurServer(pool, dir, 'stored', true);
  try {
    await withCorePattern(async () => {
      for (let round = 0; round < ROUNDS; round++) {
        samples.cDiscard.push(await cServer(baseline, crasher, dir, false));
        samples.ours.push(await analysed.sample(crasher));
        samples.cDisk.push(await cServer(baseline, crasher, dir, true));
        samples.oursStored.push(await stored.sample(crasher));
        const rates = Object.values(samples).map((list) => mibPerSecond(list[round]!).toFixed(0));
        process.stderr.write(
          `round ${round + 1}/${ROUNDS}: MiB/s in table order ${rates.join(' ')}\n`,
        );
      }
    });
  } finally {
    await analysed.stop();
    await stored.stop();
    await pool.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const table = [
    ['server', 'MiB/s', 'of C', 'range', 'stream ms', 'held ms', 'CPU ms', 'analysed'],
    row('C, read and discard', samples.cDiscard, null),
    row('pidstream, analysed', samples.ours, samples.cDiscard),
    row('C, write + fsync', samples.cDisk, null),
    row('pidstream, analysed + stored (zstd)', samples.oursStored, samples.cDisk),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((r) => (r[i] ?? '').length)));
  const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  process.stdout.write(`${CORE_MIB} MiB core, median of ${ROUNDS} rounds, load ${load}\n`);
  for (const r of table) {
    process.stdout.write(
      `${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')}\n`,
    );
  }
}

await main();
