/**
 * `npm run bench:exits`: the agent against a minimal C watcher (proc connector + pidfd + epoll
 * + PIDFD_INFO_EXIT) on the same process churn, both watching at once, so the ratio holds on a
 * noisy machine. The agent runs inside this process (its CPU and memory are this process's,
 * with the harness idle while it is measured); the watcher and the churn are C programs built
 * here with gcc. The memory phase runs `pidstream run` itself, so its RSS is the agent's alone.
 *
 * Phases: a warm-up churn that is not measured (V8 compiles the per-exit path during the first
 * thousands of exits; an agent runs for days), full-speed churn in three rounds, each with a
 * fresh C watcher (completeness, duplicates, CPU per exit, by thread, peak RSS), churn paced at
 * 1,000 exits/s (latency from the reap to the event handed to the sink), with the agent stopped
 * the C watcher's job written in TypeScript through the agent's koffi bindings beside the C
 * watcher (koffi-watcher.ts: the floor of the language and the FFI, without the agent's work),
 * and 10,000 sleeping processes (RSS with that many watched).
 *
 * `npm run bench:exits` sets UV_THREADPOOL_SIZE as the `pidstream` launcher does
 * (cli/pidstream.cts): the in-process agent must have the pool it has when deployed.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { configureLogging } from '../../common/log.js';
import { distFile, packageRoot } from '../../common/paths.js';
import { Agent } from '../../ingest/agent.js';
import { DEFAULT_AGENT_OPTIONS } from '../../ingest/options.js';
import type { StampedEvent } from '../../ingest/sequencer.js';
import { WATCHER_THREAD_NAME } from '../../ingest/watcher-protocol.js';
import { eventType } from '../../schemas/index.js';
import { AvroFileSink } from '../../streams/avro-file-sink.js';
import type { EventSink } from '../../streams/types.js';
import { WORKER_THREAD_NAME } from '../../workers/protocol.js';

const FULL_CHURN = Number(process.env.BENCH_EXITS_N ?? 20_000);
/**
 * Full-speed rounds. The machine is shared and one round's ratio moves by a quarter with what
 * else runs; the table shows the round with the median ratio, the line above it every round.
 */
const FULL_ROUNDS = Number(process.env.BENCH_EXITS_ROUNDS ?? 3);
const WARMUP_CHURN = Number(process.env.BENCH_EXITS_WARMUP ?? 5_000);
const CHURN_WORKERS = 2;
const PACED_RATE = 1000;
const PACED_SECONDS = 10;
const SLEEPERS = 10_000;
/** Grace after a phase's exits were all counted, for the last batches to reach the sink. */
const SETTLE_MS = 1000;
/** Upper bound of the wait for a phase's exits. */
const SETTLE_MAX_MS = 60_000;
const CLOCK_TICKS_US = 10_000;

const root = packageRoot();
/** Every helper process started here, killed if the benchmark ends early. */
const children = new Set<ChildProcess>();
process.on('exit', () => {
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
});

function track<T extends ChildProcess>(child: T): T {
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}
const out = join(root, 'bench/out/exits');

interface Exit {
  pid: number;
  ppid: number;
  status: number;
  atUs: number;
  /** The C watcher's: 0 from the pidfd, 1 from the connector (pidfd_open lost the race). */
  source?: number;
}

interface Churn {
  workers: Set<number>;
  /** pid → wait status and reap time. */
  reaped: Map<number, { status: number; atUs: number }>;
}

function build(name: string): string {
  const binary = join(out, name);
  execFileSync('gcc', ['-O2', '-o', binary, join(root, 'bench/exits', `${name}.c`)]);
  return binary;
}

/** The agent's sink: the real file sink, with the moment each exit event was handed to it. */
class TimedSink implements EventSink {
  readonly exits: { bytes: Buffer; atUs: number }[] = [];
  readonly #inner: EventSink;

  constructor(inner: EventSink) {
    this.#inner = inner;
  }

  write(events: readonly StampedEvent[]): Promise<void> {
    const atUs = Date.now() * 1000;
    for (const e of events) if (e.name === 'ProcessExit') this.exits.push({ bytes: e.bytes, atUs });
    return this.#inner.write(events);
  }

  flush(): Promise<void> {
    return this.#inner.flush();
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  /** Decodes and forgets what was recorded so far. */
  take(): Exit[] {
    const type = eventType('ProcessExit');
    const taken = this.exits.splice(0).map(({ bytes, atUs }) => {
      const e = type.fromBuffer(bytes) as {
        process: { pid: number };
        ppid: number | null;
        wait_status: number | null;
      };
      return { pid: e.process.pid, ppid: e.ppid ?? -1, status: e.wait_status ?? -1, atUs };
    });
    return taken;
  }
}

/**
 * Runs the churn and resolves with its raw output once it exits. The output is parsed by
 * `parseChurn`, after the CPU of the phase was taken: 20,000 lines of regular expressions
 * and map inserts on the main thread are the harness's work, not the agent's.
 */
function runChurn(binary: string, n: number, rate: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = track(
      spawn(binary, [String(n), String(CHURN_WORKERS), String(rate)], {
        stdio: ['ignore', 'pipe', 'inherit'],
      }),
    );
    const chunks: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => chunks.push(c));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`churn exited ${code}`));
      else resolve(Buffer.concat(chunks));
    });
  });
}

function parseChurn(output: Buffer, n: number): Churn {
  const churn: Churn = { workers: new Set(), reaped: new Map() };
  for (const line of output.toString().trim().split('\n')) {
    const worker = /^W (\d+)$/.exec(line);
    const child = /^(\d+) (-?\d+) (\d+)$/.exec(line);
    if (worker !== null) churn.workers.add(Number(worker[1]));
    else if (child !== null) {
      churn.reaped.set(Number(child[1]), { status: Number(child[2]), atUs: Number(child[3]) });
    } else throw new Error(`churn printed a line that is not 'pid status us': ${line}`);
  }
  if (churn.reaped.size !== n) {
    throw new Error(`churn reported ${churn.reaped.size} children, not ${n}`);
  }
  return churn;
}

/** The C watcher, ready once it says so; `stop` returns the exits it saw. */
async function startWatcher(binary: string): Promise<{ pid: number; stop(): Promise<Exit[]> }> {
  const child = track(spawn(binary, [], { stdio: ['ignore', 'pipe', 'pipe'] }));
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  await new Promise<void>((resolve) => child.stderr?.once('data', () => resolve()));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  return {
    pid: child.pid ?? -1,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
      return Buffer.concat(chunks)
        .toString()
        .trim()
        .split('\n')
        .filter((l) => l !== '')
        .map((line) => {
          const [pid, ppid, status, source, atUs] = line.split(' ').map(Number);
          return { pid: pid!, ppid: ppid!, status: status!, atUs: atUs!, source: source! };
        });
    },
  };
}

interface Cpu {
  user: number;
  system: number;
}

/** utime and stime from a /proc stat line, in µs. */
function cpuOf(stat: string): Cpu {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    user: Number(fields[11]) * CLOCK_TICKS_US,
    system: Number(fields[12]) * CLOCK_TICKS_US,
  };
}

/** utime + stime of a whole process (all its threads), in µs. */
function cpuUs(pid: number | 'self'): number {
  const cpu = cpuOf(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  return cpu.user + cpu.system;
}

type ThreadGroup = 'main' | 'watcher' | 'workers' | 'V8 and libuv';

/**
 * CPU of each of this process's threads, summed by what the thread does: the main thread, the
 * exit watcher's, the Piscina workers' (each named by the agent), and the rest (V8's garbage
 * collector and compiler, libuv's pool for file writes).
 */
function cpuByThread(): Record<ThreadGroup, Cpu> {
  const sum: Record<ThreadGroup, Cpu> = {
    main: { user: 0, system: 0 },
    watcher: { user: 0, system: 0 },
    workers: { user: 0, system: 0 },
    'V8 and libuv': { user: 0, system: 0 },
  };
  for (const tid of readdirSync('/proc/self/task')) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // The thread ended between the listing and the read.
    }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const group: ThreadGroup =
      Number(tid) === process.pid
        ? 'main'
        : comm === WATCHER_THREAD_NAME
          ? 'watcher'
          : comm === WORKER_THREAD_NAME
            ? 'workers'
            : 'V8 and libuv';
    const cpu = cpuOf(stat);
    sum[group].user += cpu.user;
    sum[group].system += cpu.system;
  }
  return sum;
}

function statusKb(pid: number | 'self', key: 'VmRSS' | 'VmHWM'): number {
  const m = new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0);
}

/**
 * Waits until the agent has handled at least `expected` more exits than `base` (the host's own
 * processes count too, so this is a lower bound), then a grace period for the rest.
 */
async function settle(count: () => number, base: number, expected: number): Promise<void> {
  const deadline = Date.now() + SETTLE_MAX_MS;
  while (count() - base < expected && Date.now() < deadline) await sleep(100);
  await sleep(SETTLE_MS);
}

/** RSS of a `pidstream run` process and of the watcher once both hold SLEEPERS more pidfds. */
async function rssWatched(
  sleepersBin: string,
  watcherPid: number,
): Promise<{ agentKb: number; watcherKb: number }> {
  const child = track(
    spawn(
      process.execPath,
      [
        distFile('cli/pidstream.cjs'),
        'run',
        '--out',
        join(out, 'cli-agent'),
        '--no-status',
        '--no-coredumps',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    ),
  );
  let err = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
      if (err.includes('"msg":"agent started"')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`pidstream run exited ${code}: ${err}`)));
  });
  const fds = (pid: number): number => readdirSync(`/proc/${pid}/fd`).length;
  const agentFds = fds(child.pid!);
  const watcherFds = fds(watcherPid);
  const sleepers = track(
    spawn(sleepersBin, [String(SLEEPERS)], { stdio: ['ignore', 'pipe', 'inherit'] }),
  );
  await new Promise<void>((resolve) => sleepers.stdout.once('data', () => resolve()));
  const deadline = Date.now() + SETTLE_MAX_MS;
  while (fds(child.pid!) < agentFds + SLEEPERS || fds(watcherPid) < watcherFds + SLEEPERS) {
    if (Date.now() > deadline) throw new Error('the sleepers were not all watched in time');
    await sleep(200);
  }
  await sleep(SETTLE_MS);
  const result = {
    agentKb: statusKb(child.pid!, 'VmRSS'),
    watcherKb: statusKb(watcherPid, 'VmRSS'),
  };
  // The sleepers kill and reap their children before they exit.
  const sleepersGone = new Promise((resolve) => sleepers.on('exit', resolve));
  sleepers.kill('SIGTERM');
  await sleepersGone;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.on('exit', resolve));
  return result;
}

interface Score {
  completeness: number;
  duplicates: number;
  wrongStatus: number;
  latencies: number[];
}

function score(churn: Churn, exits: Exit[]): Score {
  const seen = new Map<number, number>();
  let wrongStatus = 0;
  const latencies: number[] = [];
  for (const e of exits) {
    if (!churn.workers.has(e.ppid)) continue;
    const reaped = churn.reaped.get(e.pid);
    if (reaped === undefined) continue;
    seen.set(e.pid, (seen.get(e.pid) ?? 0) + 1);
    if (reaped.status !== e.status) wrongStatus++;
    latencies.push((e.atUs - reaped.atUs) / 1000);
  }
  let duplicates = 0;
  for (const n of seen.values()) duplicates += n - 1;
  latencies.sort((a, b) => a - b);
  return { completeness: seen.size / churn.reaped.size, duplicates, wrongStatus, latencies };
}

function pct(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

interface FullRound {
  churnSeconds: number;
  agent: Score;
  watcher: Score;
  agentExits: number;
  watcherExits: number;
  agentUsPerExit: number;
  watcherUsPerExit: number;
  ratio: number;
  threads: Record<ThreadGroup, Cpu>;
  watcherCpu: Cpu;
  watcherPeakKb: number;
  viaConnector: number;
  viaPidfd: number;
  watcherViaConnector: number;
  wakes: number;
}

/** One full-speed churn with a fresh C watcher beside the agent. */
async function fullRound(
  agent: Agent,
  sink: TimedSink,
  exitsSeen: () => number,
  churnBin: string,
  watcherBin: string,
): Promise<FullRound> {
  const watcher = await startWatcher(watcherBin);
  const threads0 = cpuByThread();
  const agentCpu0 = cpuUs('self');
  const watcherCpu0 = cpuOf(readFileSync(`/proc/${watcher.pid}/stat`, 'utf8'));
  const sources0 = { ...agent.stats.exitsBySource };
  const exits0 = exitsSeen();
  const wakes0 = agent.watcherCounters()?.wakes ?? 0;
  const t0 = Date.now();
  const output = await runChurn(churnBin, FULL_CHURN, 0);
  const churnSeconds = (Date.now() - t0) / 1000;
  await settle(exitsSeen, exits0, FULL_CHURN);
  const agentCpu = cpuUs('self') - agentCpu0;
  const threads1 = cpuByThread();
  const watcherCpu1 = cpuOf(readFileSync(`/proc/${watcher.pid}/stat`, 'utf8'));
  // Both watch the whole host: CPU is divided by every exit each saw in the window.
  const agentExits = exitsSeen() - exits0;
  const wakes = (agent.watcherCounters()?.wakes ?? 0) - wakes0;
  const watcherPeakKb = statusKb(watcher.pid, 'VmHWM');
  const watcherAll = await watcher.stop();
  const churn = parseChurn(output, FULL_CHURN);
  const sources = agent.stats.exitsBySource;
  const watcherCpu = {
    user: watcherCpu1.user - watcherCpu0.user,
    system: watcherCpu1.system - watcherCpu0.system,
  };
  const threads = Object.fromEntries(
    (Object.keys(threads1) as ThreadGroup[]).map((g) => [
      g,
      {
        user: threads1[g].user - threads0[g].user,
        system: threads1[g].system - threads0[g].system,
      },
    ]),
  ) as Record<ThreadGroup, Cpu>;
  const agentUsPerExit = agentCpu / agentExits;
  const watcherUsPerExit = (watcherCpu.user + watcherCpu.system) / watcherAll.length;
  return {
    churnSeconds,
    agent: score(churn, sink.take()),
    watcher: score(churn, watcherAll),
    agentExits,
    watcherExits: watcherAll.length,
    agentUsPerExit,
    watcherUsPerExit,
    ratio: agentUsPerExit / watcherUsPerExit,
    threads,
    watcherCpu,
    watcherPeakKb,
    viaConnector: sources.PROC_CONNECTOR - sources0.PROC_CONNECTOR,
    viaPidfd: sources.PIDFD - sources0.PIDFD,
    watcherViaConnector: watcherAll.filter((e) => e.source === 1).length,
    wakes,
  };
}

function describeRound(r: FullRound, n: number): string {
  const share = (part: number, all: number): string => `${((part / all) * 100).toFixed(1)}%`;
  const perExit = (cpu: Cpu, exits: number): string =>
    `${(cpu.user / exits).toFixed(1)} + ${(cpu.system / exits).toFixed(1)}`;
  const byThread = (Object.keys(r.threads) as ThreadGroup[])
    .map((g) => `${g} ${perExit(r.threads[g], r.agentExits)}`)
    .join(', ');
  return (
    `round ${n}: ${FULL_CHURN} processes in ${r.churnSeconds.toFixed(1)} s ` +
    `(${(FULL_CHURN / r.churnSeconds).toFixed(0)}/s, ${CHURN_WORKERS} workers); exits in the ` +
    `window: agent ${r.agentExits}, C watcher ${r.watcherExits}; CPU µs per exit ` +
    `${r.agentUsPerExit.toFixed(1)} against ${r.watcherUsPerExit.toFixed(1)}: ` +
    `${r.ratio.toFixed(2)}×\n` +
    `  pidfd_open lost the race (exit from the connector): agent ${r.viaConnector} ` +
    `(${share(r.viaConnector, r.viaConnector + r.viaPidfd)}), C watcher ` +
    `${r.watcherViaConnector} (${share(r.watcherViaConnector, r.watcherExits)}); the agent's ` +
    `watcher thread woke ${(r.wakes / r.agentExits).toFixed(2)} times per exit\n` +
    `  CPU, user + system µs per exit: agent's threads: ${byThread}; C watcher ` +
    `${perExit(r.watcherCpu, r.watcherExits)}`
  );
}

/**
 * The C watcher's job written in TypeScript with the agent's bindings (koffi-watcher.ts), beside
 * the C watcher on one full-speed churn after a warm-up: what koffi and JavaScript cost for the
 * system calls alone, without the agent's work.
 */
async function koffiFloor(
  churnBin: string,
  watcherBin: string,
): Promise<{
  koffiExits: number;
  watcherExits: number;
  koffiUsPerExit: number;
  watcherUsPerExit: number;
}> {
  const koffi = track(
    spawn(process.execPath, [join(root, 'dist/bench/exits/koffi-watcher.js')], {
      stdio: ['pipe', 'pipe', 'pipe'],
    }),
  );
  // It answers each line on its standard input with one line: its count so far.
  let printed = '';
  let onPrinted = (): void => {};
  koffi.stdout.on('data', (c: Buffer) => {
    printed += c.toString();
    onPrinted();
  });
  const answers = (): number => printed.split('\n').length - 1;
  const count = async (): Promise<number> => {
    const wanted = answers() + 1;
    koffi.stdin.write('\n');
    while (answers() < wanted) await new Promise<void>((resolve) => (onPrinted = resolve));
    return Number(printed.split('\n')[wanted - 1]);
  };
  const koffiExited = new Promise<void>((resolve) => koffi.on('exit', () => resolve()));
  await new Promise<void>((resolve) => koffi.stderr.once('data', () => resolve()));
  const watcher = await startWatcher(watcherBin);
  await runChurn(churnBin, WARMUP_CHURN, 0);
  await sleep(SETTLE_MS);
  const koffiExits0 = await count();
  const koffiCpu0 = cpuUs(koffi.pid ?? -1);
  const watcherCpu0 = cpuUs(watcher.pid);
  const t0Us = Date.now() * 1000;
  await runChurn(churnBin, FULL_CHURN, 0);
  await sleep(SETTLE_MS);
  const koffiCpu = cpuUs(koffi.pid ?? -1) - koffiCpu0;
  const watcherCpu = cpuUs(watcher.pid) - watcherCpu0;
  const koffiExits = (await count()) - koffiExits0;
  const watcherExits = (await watcher.stop()).filter((e) => e.atUs >= t0Us).length;
  koffi.stdin.end();
  await koffiExited;
  return {
    koffiExits,
    watcherExits,
    koffiUsPerExit: koffiCpu / koffiExits,
    watcherUsPerExit: watcherCpu / watcherExits,
  };
}

async function main(): Promise<void> {
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const churnBin = build('churn');
  const watcherBin = build('watcher');
  const sleepersBin = build('sleepers');

  configureLogging('warn');
  const sink = new TimedSink(new AvroFileSink({ dir: join(out, 'agent-files') }));
  // core_pattern is global and not this benchmark's concern: crash capture stays off.
  const coredumps = { ...DEFAULT_AGENT_OPTIONS.coredumps, enabled: false };
  const agent = new Agent({ ...DEFAULT_AGENT_OPTIONS, sink, statusLine: false, coredumps });
  await agent.start();
  const exitsSeen = (): number => {
    const s = agent.stats.exitsBySource;
    return s.PIDFD + s.PROC_CONNECTOR + s.ZOMBIE_TIMEOUT;
  };

  // Warm-up, not measured.
  const warm0 = exitsSeen();
  await runChurn(churnBin, WARMUP_CHURN, 0);
  await settle(exitsSeen, warm0, WARMUP_CHURN);
  sink.take();

  // Phase 1: full-speed churn, in rounds.
  const rounds: FullRound[] = [];
  for (let i = 0; i < FULL_ROUNDS; i++) {
    rounds.push(await fullRound(agent, sink, exitsSeen, churnBin, watcherBin));
  }
  const byRatio = [...rounds].sort((a, b) => a.ratio - b.ratio);
  const median = byRatio[Math.floor((byRatio.length - 1) / 2)]!;
  const agentPeakKb = statusKb('self', 'VmHWM');
  const worst = (f: (r: FullRound) => number): number => Math.min(...rounds.map(f));
  const total = (f: (r: FullRound) => number): number => rounds.reduce((n, r) => n + f(r), 0);

  // Phase 2: paced churn, latency.
  let watcher = await startWatcher(watcherBin);
  const exits1 = exitsSeen();
  const pacedCount = PACED_RATE * PACED_SECONDS;
  const pacedOutput = await runChurn(churnBin, pacedCount, PACED_RATE);
  await settle(exitsSeen, exits1, pacedCount);
  const paced = parseChurn(pacedOutput, pacedCount);
  const pacedWatcher = score(paced, await watcher.stop());
  const pacedAgent = score(paced, sink.take());

  await agent.stop('benchmark phases 1 and 2 done');

  // Phase 3: the floor of TypeScript through koffi, with the agent stopped.
  const floor = await koffiFloor(churnBin, watcherBin);

  // Phase 4: 10,000 sleeping processes watched, by the agent as `pidstream run` runs it.
  watcher = await startWatcher(watcherBin);
  const { agentKb: agentRssWatchedKb, watcherKb: watcherRssWatchedKb } = await rssWatched(
    sleepersBin,
    watcher.pid,
  );
  await watcher.stop();

  const fmtPct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  const mb = (kb: number): string => (kb / 1024).toFixed(1);
  const ms = (x: number): string => x.toFixed(2);
  const rows: [string, string, string, string, string][] = [
    [
      `completeness, ${FULL_ROUNDS} × ${FULL_CHURN} exits at full speed (worst round)`,
      fmtPct(worst((r) => r.agent.completeness)),
      fmtPct(worst((r) => r.watcher.completeness)),
      '',
      '100%',
    ],
    [
      'duplicates',
      String(total((r) => r.agent.duplicates)),
      String(total((r) => r.watcher.duplicates)),
      '',
      '0',
    ],
    [
      'wrong wait status',
      String(total((r) => r.agent.wrongStatus)),
      String(total((r) => r.watcher.wrongStatus)),
      '',
      '0',
    ],
    [
      'CPU µs per exit (median round)',
      median.agentUsPerExit.toFixed(1),
      median.watcherUsPerExit.toFixed(1),
      `${median.ratio.toFixed(2)}×`,
      '≤ 1.5×',
    ],
    [
      "CPU µs per exit, the C watcher's job in TypeScript + koffi (no agent)",
      floor.koffiUsPerExit.toFixed(1),
      floor.watcherUsPerExit.toFixed(1),
      `${(floor.koffiUsPerExit / floor.watcherUsPerExit).toFixed(2)}×`,
      '',
    ],
    ['peak RSS, MB', mb(agentPeakKb), mb(Math.max(...rounds.map((r) => r.watcherPeakKb))), '', ''],
    [
      `p50 reap → sink, ms (${PACED_RATE}/s)`,
      ms(pct(pacedAgent.latencies, 50)),
      ms(pct(pacedWatcher.latencies, 50)),
      '',
      '',
    ],
    [
      `p99 reap → sink, ms (${PACED_RATE}/s)`,
      ms(pct(pacedAgent.latencies, 99)),
      ms(pct(pacedWatcher.latencies, 99)),
      '',
      '≤ 20',
    ],
    [
      `completeness at ${PACED_RATE}/s`,
      fmtPct(pacedAgent.completeness),
      fmtPct(pacedWatcher.completeness),
      '',
      '100%',
    ],
    [
      `RSS with ${SLEEPERS} watched, MB`,
      mb(agentRssWatchedKb),
      mb(watcherRssWatchedKb),
      '',
      '≤ 120',
    ],
  ];
  const widths = [0, 1, 2, 3, 4].map((i) =>
    Math.max(
      ...rows.map((r) => r[i]!.length),
      ['metric', 'agent', 'C watcher', 'ratio', 'target'][i]!.length,
    ),
  );
  const line = (cells: string[]): string =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(`\n${rounds.map((r, i) => describeRound(r, i + 1)).join('\n')}`);
  console.log(
    `the C watcher's job in TypeScript + koffi, agent stopped: ${FULL_CHURN} processes; exits ` +
      `seen: ${floor.koffiExits}, C watcher ${floor.watcherExits}\n`,
  );
  console.log(line(['metric', 'agent', 'C watcher', 'ratio', 'target']));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
}

await main();
