/**
 * Generates the event stream of a synthetic fleet, in time order: a Poisson background of
 * process exits at the requested rate, with crash loops on single hosts and bad deploys
 * across many laid over it. Every host writes its own agent stream (START first, STOP last,
 * its own boot id, instance id and Sequencer), so the output passes `pidstream verify`.
 *
 * Everything random comes from one Prng seeded by `seed`, and every time from `startUs`:
 * the same options give the same events, byte for byte.
 */
import type { StampedEvent } from '../../ingest/sequencer.js';
import { bodyType, EventName } from '../../schemas/index.js';
import { buildFleet, Host, PROGRAMS, ProgramName } from './fleet.js';
import { Prng, WeightedChoice } from './prng.js';
import {
  agentBody,
  CORE_BYTES_PER_US,
  coredumpBody,
  Ending,
  exitBody,
  ExitClass,
  SynthProcess,
} from './records.js';
import { BuildIds, Crash, CrashCatalogue, makeCrash, SIGNALS, SignalName } from './signatures.js';
import { Timeline } from './timeline.js';

export interface SynthOptions {
  seed: string;
  hosts: number;
  /** Mean process events per second of event time. */
  rate: number;
  /** Time of the first event, wall-clock microseconds. */
  startUs: number;
  /** Stop after this many process events (ProcessExit and Coredump), or… */
  count: number | null;
  /** …after this much event time. */
  durationUs: number | null;
  signatures: number;
  zipfExponent: number;
  /** Crash loops and bad deploys to lay over the background; null: one per 10 min / 1 h. */
  crashLoops: number | null;
  badDeploys: number | null;
}

/** A stamped event with its `time`, ready for a sink or the pacer. */
export interface SynthEvent extends StampedEvent {
  timeUs: number;
}

/** How background processes end, in shares of all exits on a typical server fleet. */
const OUTCOMES = new WeightedChoice<ExitClass>([
  ['CLEAN', 780],
  ['ERROR', 150],
  ['KILLED', 50],
  ['CRASHED', 15],
  ['OOM_KILLED', 5],
]);

/** Non-zero exit codes: generic failure, misuse, not found, not executable, timeout(1)… */
export const ERROR_CODES = new WeightedChoice<number>([
  [1, 62],
  [2, 12],
  [255, 7],
  [127, 5],
  [124, 4],
  [3, 3],
  [143, 3],
  [126, 2],
  [130, 2],
]);

/** Signals that end processes without a core: service stops, kill -9, Ctrl-C, hang-ups. */
export const KILL_SIGNALS = new WeightedChoice<SignalName>([
  ['SIGTERM', 62],
  ['SIGKILL', 20],
  ['SIGINT', 8],
  ['SIGHUP', 6],
  ['SIGPIPE', 4],
]);

/** Share of exits whose pidfd_open lost the race, so the proc connector's record is used. */
const CONNECTOR_SHARE = 0.03;
/** Shortest lifetime drawn, in microseconds: fork+exec+exit takes at least this long. */
const MIN_LIFETIME_US = 300;
const MINUTE_US = 60_000_000;

type Item =
  | { kind: 'background' }
  | { kind: 'exit'; proc: SynthProcess; ending: Ending; coredumpSeq: number | null }
  | { kind: 'loop'; host: Host; program: ProgramName; crash: Crash; left: number; gapUs: number };

const SERVICES: readonly ProgramName[] = ['nginx', 'postgres', 'python', 'java', 'node', 'envoy'];

export class FleetGenerator {
  readonly hosts: readonly Host[];
  readonly #options: SynthOptions;
  readonly #prng: Prng;
  /** The crashes of the background, rank 1 (most frequent) first. */
  readonly catalogue: CrashCatalogue;
  readonly #buildIds: BuildIds;
  readonly #timeline = new Timeline<Item>();
  readonly #hostsRunning = new Map<ProgramName, Host[]>();
  readonly #endUs: number;
  #processEvents = 0;
  /** Process events promised to exits already scheduled, so --count is met exactly. */
  #reserved = 0;
  #lastUs: number;

  constructor(options: SynthOptions) {
    this.#options = options;
    this.#prng = new Prng(options.seed);
    this.hosts = buildFleet(options.hosts, this.#prng);
    this.#buildIds = new BuildIds(this.#prng);
    this.catalogue = new CrashCatalogue(
      this.#prng,
      this.#buildIds,
      options.signatures,
      options.zipfExponent,
    );
    for (const name of Object.keys(PROGRAMS) as ProgramName[]) {
      this.#hostsRunning.set(
        name,
        this.hosts.filter((h) => h.programs.has(name)),
      );
    }
    const spanUs = options.durationUs ?? ((options.count ?? 0) / options.rate) * 1e6;
    this.#endUs = options.startUs + (options.durationUs ?? Number.POSITIVE_INFINITY);
    this.#lastUs = options.startUs;
    this.#timeline.add(options.startUs + options.hosts, { kind: 'background' });
    this.#scheduleIncidents(spanUs);
  }

  /** The whole stream: START per host, process events, STOP per host. */
  *events(): Generator<SynthEvent> {
    yield* this.starts();
    for (;;) {
      const event = this.next();
      if (event === null) break;
      yield event;
    }
    yield* this.stops();
  }

  *starts(): Generator<SynthEvent> {
    for (const [i, host] of this.hosts.entries()) {
      const timeUs = this.#options.startUs + i;
      yield this.#emit(
        host,
        'AgentEvent',
        timeUs,
        agentBody(timeUs, 'START', 'agent started', {
          generator: 'pidstream synth',
          seed: this.#options.seed,
          role: host.role,
        }),
      );
    }
  }

  /** One STOP per host after the last event: also what a stopped run ends with. */
  *stops(): Generator<SynthEvent> {
    for (const [i, host] of this.hosts.entries()) {
      const timeUs = this.#lastUs + 1000 + i;
      yield this.#emit(host, 'AgentEvent', timeUs, agentBody(timeUs, 'STOP', 'agent stopped', {}));
    }
  }

  /** The next process event, or null when the count or duration is reached. */
  next(): SynthEvent | null {
    for (;;) {
      const limit = this.#options.count;
      if (limit !== null && this.#processEvents >= limit) return null;
      const due = this.#timeline.pop();
      if (due === undefined) return null;
      const [timeUs, item] = due;
      if (item.kind !== 'exit' && timeUs > this.#endUs) continue;
      const event = this.#run(timeUs, item);
      if (event !== null) {
        this.#processEvents++;
        return event;
      }
    }
  }

  #run(timeUs: number, item: Item): SynthEvent | null {
    switch (item.kind) {
      case 'background':
        this.#timeline.add(timeUs + this.#gapUs(), item);
        // The last slots of a --count belong to exits already promised to their Coredumps.
        return this.#budget(1) ? this.#background(timeUs) : null;
      case 'exit':
        this.#reserved--;
        return this.#exit(timeUs, item.proc, item.ending, item.coredumpSeq);
      case 'loop':
        if (--item.left > 0) {
          this.#timeline.add(timeUs + Math.round(this.#prng.logNormal(item.gapUs, 0.3)), item);
        }
        if (!this.#budget(2)) return null;
        return this.#crash(timeUs, item.host, item.program, item.crash, 50_000);
    }
  }

  #gapUs(): number {
    return Math.max(1, Math.round(this.#prng.exponential(1e6 / this.#options.rate)));
  }

  /** Whether `n` more process events fit in --count beside those already promised. */
  #budget(n: number): boolean {
    const limit = this.#options.count;
    return limit === null || this.#processEvents + this.#reserved + n <= limit;
  }

  #background(timeUs: number): SynthEvent {
    let outcome = OUTCOMES.pick(this.#prng);
    if (outcome === 'CRASHED' && !this.#budget(2)) outcome = 'KILLED';
    if (outcome === 'CRASHED') {
      const crash = this.catalogue.draw(this.#prng);
      const host = this.#hostFor(crash.program);
      return this.#crash(timeUs, host, crash.program, crash, undefined);
    }
    if (outcome === 'OOM_KILLED') {
      const program = this.#prng.pick(HUNGRY);
      const proc = this.#process(this.#hostFor(program), program, timeUs, undefined);
      return this.#exit(timeUs, proc, { classification: outcome, exitCode: null, signal: 9 }, null);
    }
    const host = this.#prng.pick(this.hosts);
    const program = host.programs.pick(this.#prng);
    const proc = this.#process(host, program, timeUs, undefined);
    return this.#exit(timeUs, proc, this.#ending(outcome), null);
  }

  #ending(outcome: 'CLEAN' | 'ERROR' | 'KILLED'): Ending {
    if (outcome === 'CLEAN') return { classification: outcome, exitCode: 0, signal: null };
    if (outcome === 'ERROR') {
      return { classification: outcome, exitCode: ERROR_CODES.pick(this.#prng), signal: null };
    }
    const signal = SIGNALS[KILL_SIGNALS.pick(this.#prng)];
    return { classification: outcome, exitCode: null, signal };
  }

  /** A Coredump now and the process's exit once the core has been taken. */
  #crash(
    timeUs: number,
    host: Host,
    program: ProgramName,
    crash: Crash,
    lifetimeUs: number | undefined,
  ): SynthEvent {
    const proc = this.#process(host, program, timeUs, lifetimeUs);
    const threads = program === 'java' ? this.#prng.between(30, 200) : this.#prng.between(1, 12);
    const coreSize = Math.round(this.#prng.logNormal(program === 'java' ? 2e9 : 6e7, 0.8));
    const fault = this.#faultAddress(crash);
    const body = coredumpBody(proc, timeUs, crash, fault, threads, coreSize);
    const event = this.#emit(host, 'Coredump', timeUs, body);
    const takenUs =
      timeUs + Math.round(coreSize / CORE_BYTES_PER_US) + this.#prng.between(200, 3000);
    const ending: Ending = { classification: 'CRASHED', exitCode: null, signal: crash.signal };
    this.#timeline.add(takenUs, { kind: 'exit', proc, ending, coredumpSeq: event.seq });
    this.#reserved++;
    return event;
  }

  #faultAddress(crash: Crash): number | null {
    if (crash.signal !== SIGNALS.SIGSEGV && crash.signal !== SIGNALS.SIGBUS) return null;
    // Most segfaults are near-null dereferences; the rest land in a freed or wild heap pointer.
    if (this.#prng.chance(0.45)) return this.#prng.int(0x200);
    return 0x5555_5600_0000 + this.#prng.int(0x4000_0000);
  }

  #exit(timeUs: number, proc: SynthProcess, ending: Ending, coredumpSeq: number | null) {
    const fromConnector = ending.classification !== 'CRASHED' && this.#prng.chance(CONNECTOR_SHARE);
    const body = exitBody(proc, timeUs, ending, coredumpSeq, fromConnector);
    return this.#emit(proc.host, 'ProcessExit', timeUs, body);
  }

  #process(host: Host, program: ProgramName, timeUs: number, lifetimeUs: number | undefined) {
    const spec = PROGRAMS[program];
    const lifetime =
      lifetimeUs ?? Math.round(this.#prng.logNormal(spec.lifetimeUs, spec.lifetimeSigma));
    const { pid, pidfsIno } = host.nextProcess();
    return { host, program, pid, pidfsIno, startUs: timeUs - Math.max(MIN_LIFETIME_US, lifetime) };
  }

  /** A host that runs `program`, or any host when the fleet is too small to have one. */
  #hostFor(program: ProgramName): Host {
    const running = this.#hostsRunning.get(program) ?? [];
    return this.#prng.pick(running.length > 0 ? running : this.hosts);
  }

  #emit(host: Host, name: EventName, timeUs: number, body: Record<string, unknown>): SynthEvent {
    // A host's own events keep their order in time even when a late exit was scheduled.
    const at = Math.max(timeUs, host.lastTimeUs);
    body.time = at;
    if (typeof body.lifetime_us === 'number') body.lifetime_us += at - timeUs;
    host.lastTimeUs = at;
    this.#lastUs = Math.max(this.#lastUs, at);
    const stamped = host.sequencer.stamp(name, bodyType(name).toBuffer(body));
    return { ...stamped, timeUs: at };
  }

  /**
   * Crash loops: one host's service restarts and crashes again every second or so. Bad
   * deploys: a new build of a service, with a new bug, reaches a share of the hosts that run
   * it over a rollout window and crash-loops on each until the rollback.
   */
  #scheduleIncidents(spanUs: number): void {
    const loops = this.#options.crashLoops ?? Math.ceil(spanUs / (10 * MINUTE_US));
    const deploys = this.#options.badDeploys ?? Math.ceil(spanUs / (60 * MINUTE_US));
    for (let i = 0; i < loops; i++) {
      const host = this.#prng.pick(this.hosts);
      const program = host.programs.pick(this.#prng);
      const crash = makeCrash(this.#prng, this.#buildIds, program);
      const at = this.#options.startUs + Math.round(spanUs * (0.05 + 0.65 * this.#prng.next()));
      const left = this.#prng.between(10, 60);
      this.#timeline.add(at, { kind: 'loop', host, program, crash, left, gapUs: 600_000 });
    }
    for (let i = 0; i < deploys; i++) {
      const program = this.#prng.pick(SERVICES);
      const crash = makeCrash(this.#prng, this.#buildIds, program, this.#prng.hex(20));
      const running = this.#hostsRunning.get(program) ?? [];
      const fleet = running.length > 0 ? running : this.hosts;
      const share = 0.3 + 0.4 * this.#prng.next();
      const rolloutUs = Math.min(10 * MINUTE_US, 0.2 * spanUs);
      const rollbackUs = rolloutUs + Math.min(5 * MINUTE_US, 0.1 * spanUs);
      const at = this.#options.startUs + Math.round(spanUs * (0.1 + 0.5 * this.#prng.next()));
      for (const host of fleet) {
        if (!this.#prng.chance(share)) continue;
        const joinUs = Math.round(rolloutUs * this.#prng.next());
        const gapUs = Math.round(this.#prng.logNormal(2_000_000, 0.4));
        const left = Math.max(1, Math.floor((rollbackUs - joinUs) / gapUs));
        this.#timeline.add(at + joinUs, { kind: 'loop', host, program, crash, left, gapUs });
      }
    }
  }
}

const HUNGRY = (Object.keys(PROGRAMS) as ProgramName[]).filter((p) => PROGRAMS[p].memoryHungry);
