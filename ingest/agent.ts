/**
 * The agent: the composition root of the ingest. It owns the sequence (every event is stamped
 * here, in order), the sink, the worker pool and the exit watcher; other components (the
 * coredump server, configuration, metrics, the status API) hook in through `emit`, `stats`
 * and `linkCoredump`.
 *
 * Life: `start()` writes the START AgentEvent (seq 0) and starts watching; `stop(reason)`
 * stops watching, waits for every batch in the workers, writes the STOP AgentEvent, and
 * closes the sink so every file is valid.
 */
import { randomUUID } from 'node:crypto';
import { release } from 'node:os';

import { Piscina } from 'piscina';

import { PidstreamError } from '../common/errors.js';
import { hostName, readBootId } from '../common/host.js';
import { type Logger, logger } from '../common/log.js';
import { distFile } from '../common/paths.js';
import { bodyType, type EventName } from '../schemas/index.js';
import { AvroFileSink } from '../streams/avro-file-sink.js';
import type { EventSink } from '../streams/types.js';
import type { EncodedBodies, EncodeExitsTask, WorkerContext } from '../workers/protocol.js';
import { warmUpTask } from '../workers/warm-up.js';
import { Clocks } from './clock.js';
import { poolAnalyser, type TaskRunner } from './coredump/analyser.js';
import { Coredumps } from './coredump/coredumps.js';
import { CoredumpEncoder } from './coredump/emit.js';
import { ExitBatches } from './exit-batches.js';
import { cgroupMounts } from './oom.js';
import type { AgentOptions } from './options.js';
import { Redactor } from './redaction.js';
import { Sequencer, type StampedEvent } from './sequencer.js';
import { type AgentStats, emptyStats, type LossKind } from './stats.js';
import { StatusLine } from './status-line.js';
import { WatcherClient } from './watcher-client.js';
import type { CounterName } from './watcher-protocol.js';

export const AGENT_VERSION = process.env.npm_package_version ?? '0.1.0';

/**
 * Stamped events waiting for the sink. Past it, new events still get their sequence number
 * (the chain must not break) but wait in memory; the cap is what the status line and metrics
 * call back-pressure, and the log says so once.
 */
const SINK_QUEUE_WARN = 100_000;
/**
 * Events handed to the sink and not yet durable. A disk that stalls for seconds (another
 * program's large writes, fdatasync behind them) must not stall the stamping of new events;
 * past this many the loop waits for the sink.
 */
const MAX_SINK_EVENTS_IN_FLIGHT = 65_536;
/** How long the workers' warm-up waits for the slowest to load (it takes about 0.3 s). */
const WARM_UP_TIMEOUT_MS = 10_000;

type AgentEventKind = 'START' | 'STOP' | 'LOSS' | 'DEGRADED' | 'NOTICE';

export interface AgentEventFields {
  kind: AgentEventKind;
  message: string;
  lossKind?: LossKind;
  count?: number;
  attributes?: Record<string, string>;
}

export class Agent {
  readonly options: AgentOptions;
  readonly instanceId = randomUUID();
  readonly #log: Logger;
  readonly #stats = emptyStats();
  readonly #sequencer: Sequencer;
  readonly #agentEventType = bodyType('AgentEvent');
  #sink: EventSink | null = null;
  #pool: Piscina<EncodeExitsTask, EncodedBodies> | null = null;
  #batches: ExitBatches | null = null;
  #watcher: WatcherClient | null = null;
  #coredumps: Coredumps | null = null;
  #status: StatusLine | null = null;
  #pending: StampedEvent[] = [];
  #writing: Promise<void> | null = null;
  /** Sink writes handed over and not yet resolved; each already handles its failure. */
  readonly #outstanding = new Set<Promise<void>>();
  #eventsInFlight = 0;
  #sinkError: unknown = null;
  #warnedQueue = false;
  #stopping: Promise<void> | null = null;

  constructor(options: AgentOptions) {
    this.options = options;
    this.#log = logger('agent');
    this.#sequencer = new Sequencer({
      host: hostName(),
      bootId: readBootId(),
      instanceId: this.instanceId,
    });
  }

  get stats(): AgentStats {
    const watcher = this.#watcher;
    if (watcher !== null) {
      this.#stats.watched = watcher.counter('watched');
      this.#stats.exitsBySource.PIDFD = watcher.counter('exitsPidfd');
      this.#stats.exitsBySource.PROC_CONNECTOR = watcher.counter('exitsProcConnector');
      this.#stats.exitsBySource.ZOMBIE_TIMEOUT = watcher.counter('exitsZombieTimeout');
    }
    this.#stats.workerQueueDepth = this.#batches?.inFlight ?? 0;
    this.#stats.sinkQueueDepth = this.#pending.length;
    return this.#stats;
  }

  /** The exit watcher's own counters (wakes, notices, lost races, …); null before start. */
  watcherCounters(): Record<CounterName, number> | null {
    return this.#watcher?.counters() ?? null;
  }

  /** Opens the sink, writes START, starts the workers and the watcher. */
  async start(): Promise<void> {
    this.#sink = this.options.sink ?? (await this.#kafkaSink()) ?? (await this.#fileSink());
    const redactor = new Redactor(this.options.redactionRules);
    const watcher = await WatcherClient.spawn(
      {
        redactionRules: this.options.redactionRules,
        zombieTimeoutMs: this.options.zombieTimeoutMs,
        batchSize: this.options.batchSize,
        batchLingerMs: this.options.batchLingerMs,
        log: logger('watcher'),
      },
      {
        batch: (batch, count) => this.#batches?.add(batch, count),
        overflow: (found) =>
          this.loss('NETLINK_OVERFLOW', 0, 'proc connector overflowed (ENOBUFS); /proc rescanned', {
            rescan_found: String(found),
          }),
        degraded: (feature, since, detail) => this.degraded(feature, since, detail),
        failed: (reason) =>
          this.loss('OTHER', 0, `the exit watcher stopped; exits are no longer seen: ${reason}`),
      },
    );
    this.#watcher = watcher;
    this.agentEvent({
      kind: 'START',
      message: `pidstream ${AGENT_VERSION} started`,
      attributes: {
        version: AGENT_VERSION,
        kernel_release: release(),
        pid: String(process.pid),
        ...Object.fromEntries(
          Object.entries(watcher.features).map(([k, v]) => [`capability.${k}`, String(v)]),
        ),
      },
    });
    if (!watcher.features.procConnector) {
      this.degraded(
        'proc connector',
        '2.6.15',
        'needs CAP_NET_ADMIN (run as root); /proc is rescanned every second instead, so processes that live less than that are not seen',
      );
    }
    if (!watcher.features.pidfsInodes) {
      this.degraded('pidfs inodes', '6.9', 'events carry no pidfs_ino');
    }
    if (!watcher.features.pidfdGetInfo) {
      this.degraded('PIDFD_GET_INFO', '6.13', 'events carry no credentials or cgroup id');
    }
    this.#pool = new Piscina<EncodeExitsTask, EncodedBodies>({
      filename: distFile('workers/task.js'),
      minThreads: this.options.workers,
      maxThreads: this.options.workers,
      workerData: this.#workerContext(),
      // Piscina's own run and wait histograms cost a timer read and a histogram record per
      // task on both sides; the agent measures its tasks itself (workerTaskSeconds).
      recordTiming: false,
    });
    this.#batches = new ExitBatches(this.#pool, {
      body: (bytes) => this.emit('ProcessExit', bytes),
      dropped: (count, reason) =>
        this.loss('RECORD_DROPPED', count, `${count} exit records dropped: ${reason}`),
    });
    // Every worker loads its modules and builds its encoder while the watcher scans /proc,
    // rather than with the first exits, and the agent reports it started only once all have:
    // koffi aborts the whole process when a worker is terminated during its initialisation,
    // which a stop right after the start would otherwise do.
    const pool = this.#pool as unknown as TaskRunner;
    const warm = warmUpTask(this.options.workers, WARM_UP_TIMEOUT_MS);
    const [, ...arrived] = await Promise.all([
      watcher.start(),
      ...Array.from({ length: this.options.workers }, () => pool.run(warm)),
    ]);
    if (!arrived.every(Boolean)) {
      this.#log.warn(
        { workers: this.options.workers, timeoutMs: WARM_UP_TIMEOUT_MS },
        'not every worker was ready in time; the rest load with their first task',
      );
    }
    // The pool runs the core analyser's tasks ('plan-core', 'analyse-core') beside the exits.
    this.#coredumps = new Coredumps(
      this.options.coredumps,
      this,
      new CoredumpEncoder(redactor, new Clocks()),
      poolAnalyser(this.#pool as unknown as TaskRunner),
      logger('coredump'),
    );
    this.#coredumps.start();
    if (this.options.statusLine) {
      this.#status = new StatusLine(() => this.stats);
      this.#status.start();
    }
    this.#log.info(
      {
        instanceId: this.instanceId,
        watched: watcher.counter('watched'),
        features: watcher.features,
      },
      'agent started',
    );
  }

  /** kafkajs and the registry client are loaded only when Kafka is configured: tens of MB. */
  async #kafkaSink(): Promise<EventSink | null> {
    const kafka = this.options.kafka;
    if (kafka === undefined) return null;
    const { DEFAULT_SPOOL_MAX_BYTES, KafkaSink } = await import('../streams/kafka-sink.js');
    return KafkaSink.open({
      ...kafka,
      onSpoolOverflow: (dropped, total) =>
        this.loss('SPOOL_OVERFLOW', dropped, 'spool cap reached; oldest unsent events dropped', {
          spool: kafka.spoolDir,
          cap_bytes: String(kafka.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES),
          dropped_total: String(total),
        }),
    });
  }

  async #fileSink(): Promise<EventSink> {
    return new AvroFileSink({
      dir: this.options.outDir,
      maxBytes: this.options.rotateBytes,
      maxAgeMs: this.options.rotateAgeMs,
    });
  }

  #workerContext(): WorkerContext {
    return {
      host: hostName(),
      bootId: readBootId(),
      cgroupRoot: cgroupMounts().v2,
      passwdPath: '/etc/passwd',
    };
  }

  /** Stamps one encoded body (the record without its `agent` field) and queues it for the sink. */
  emit(name: EventName, body: Uint8Array): StampedEvent {
    const event = this.#sequencer.stamp(name, body);
    this.#stats.events[name]++;
    this.#pending.push(event);
    if (this.#pending.length > SINK_QUEUE_WARN && !this.#warnedQueue) {
      this.#warnedQueue = true;
      this.#log.warn({ queued: this.#pending.length }, 'sink is falling behind');
    }
    this.#writing ??= this.#drainToSink();
    return event;
  }

  /**
   * Hands stamped events to the sink in order without waiting for the previous write to be
   * durable: both sinks take writes in call order (the file sink chains its blocks, the Kafka
   * sink appends to its spool at the call). Waiting for each write's fdatasync held new events
   * back by tens of milliseconds on a busy disk (bench:exits). At most
   * MAX_SINK_EVENTS_IN_FLIGHT events are outstanding; past that the loop waits for the newest write.
   */
  async #drainToSink(): Promise<void> {
    // Yield once so events emitted in the same tick leave in one write.
    await Promise.resolve();
    while (this.#pending.length > 0 && this.#sink !== null) {
      const events = this.#pending;
      this.#pending = [];
      this.#eventsInFlight += events.length;
      const done = (): void => {
        this.#outstanding.delete(write);
        this.#eventsInFlight -= events.length;
      };
      const write: Promise<void> = this.#sink.write(events).then(done, (err: unknown) => {
        done();
        this.#sinkFailed(err);
      });
      this.#outstanding.add(write);
      if (this.#eventsInFlight >= MAX_SINK_EVENTS_IN_FLIGHT) await write;
    }
    this.#writing = null;
  }

  #sinkFailed(err: unknown): void {
    if (this.#sinkError !== null) return;
    this.#sinkError = err;
    this.#log.error({ err }, 'sink write failed; the agent stops');
    void this.stop('sink failure');
  }

  agentEvent(fields: AgentEventFields): StampedEvent {
    const body = this.#agentEventType.toBuffer({
      time: Date.now() * 1000,
      kind: fields.kind,
      loss_kind: fields.lossKind ?? null,
      count: fields.count ?? 0,
      message: fields.message,
      attributes: fields.attributes ?? {},
    });
    return this.emit('AgentEvent', body);
  }

  /** A LOSS AgentEvent: nothing the agent knows it lost goes unreported. */
  loss(kind: LossKind, count: number, message: string, attributes?: Record<string, string>): void {
    this.#stats.losses[kind] += Math.max(1, count);
    this.#log.warn({ lossKind: kind, count, ...attributes }, message);
    this.agentEvent({ kind: 'LOSS', lossKind: kind, count, message, attributes });
  }

  /** A DEGRADED AgentEvent naming the missing feature and the kernel version that brings it. */
  degraded(feature: string, since: string, detail: string): void {
    const message = `${feature} (Linux ${since}) is not available: ${detail}`;
    this.#log.info({ feature, since }, message);
    this.agentEvent({ kind: 'DEGRADED', message, attributes: { feature, since } });
  }

  /** A Coredump event with `seq` was written: the process's ProcessExit will carry it. */
  linkCoredump(pid: number, pidfsIno: number, seq: number): void {
    this.#watcher?.linkCoredump(pid, pidfsIno, seq);
  }

  /**
   * Stops watching, hands every batch in flight on, writes STOP, closes the sink. Safe to call
   * more than once; later calls wait for the first. Rejects when the sink failed.
   */
  stop(reason: string): Promise<void> {
    this.#stopping ??= this.#stop(reason);
    return this.#stopping;
  }

  async #stop(reason: string): Promise<void> {
    this.#status?.stop();
    // core_pattern goes back first; crashes in flight are reported while exits still link.
    await this.#coredumps?.stop();
    await this.#watcher?.stop();
    await this.#batches?.idle();
    this.agentEvent({
      kind: 'STOP',
      message: `pidstream stopped: ${reason}`,
      attributes: { reason, events: String(this.#sequencer.nextSeq + 1) },
    });
    while (this.#writing !== null) await this.#writing;
    await Promise.all(this.#outstanding);
    await this.#pool?.destroy();
    await this.#sink?.close();
    this.#log.info({ reason, nextSeq: this.#sequencer.nextSeq }, 'agent stopped');
    if (this.#sinkError !== null) {
      throw new PidstreamError('PIDSTREAM_ERR_SINK', `writing events failed: ${reason}`, {
        cause: this.#sinkError,
      });
    }
  }
}
