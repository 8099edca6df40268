/**
 * Prometheus metrics of the agent, and the HTTP endpoint that serves them with /healthz and
 * /readyz. Loopback only by default (`metrics.address = "127.0.0.1:9464"`): the counters tell
 * which binaries crash on the host, which is not for every network neighbour.
 *
 * Two kinds of instrument. Values the agent already counts (events, losses, watched processes,
 * queue depths, in `AgentStats`) are read from the bound feed at scrape time, so the per-event
 * path pays nothing for metrics. Values nobody else keeps (worker task time, Kafka send latency
 * and errors, coredump verdicts, core bytes) are instruments here that their owners update:
 * `agentMetrics.coredumps.inc({ verdict: 'ACCEPTED' })`.
 */
import { Worker } from 'node:worker_threads';

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

import { ConfigError } from '../common/errors.js';
import { distFile } from '../common/paths.js';
import { type FromEndpoint, HEARTBEAT_MS, type ToEndpoint } from './metrics-protocol.js';
import type { AgentStats } from './stats.js';

export interface SpoolGauge {
  bytes: number;
  /** Age of the oldest unacknowledged record, seconds; 0 when the spool is empty. */
  oldestAgeSeconds: number;
}

/** What the metrics read from the running agent at each scrape. */
export interface MetricsFeed {
  stats(): AgentStats;
  /** /readyz: ready once the agent has started and until it stops. */
  ready(): { ready: boolean; reason: string };
}

const PREFIX = 'pidstream_';

/** Seconds; worker batches take 0.1–50 ms, Kafka sends 1 ms–10 s. */
const TASK_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
const SEND_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];

export class AgentMetrics {
  readonly registry = new Registry();
  #feed: MetricsFeed | null = null;
  /** Set by the Kafka sink while it is open: its spool's size and oldest unsent event. */
  spool: (() => SpoolGauge) | null = null;

  readonly workerTaskSeconds = new Histogram({
    name: `${PREFIX}worker_task_seconds`,
    help: 'Time a worker batch took from hand-off to result, seconds.',
    buckets: TASK_BUCKETS,
    registers: [this.registry],
  });

  readonly kafkaSendSeconds = new Histogram({
    name: `${PREFIX}kafka_send_seconds`,
    help: 'Time from a Kafka produce request to its acknowledgement by all in-sync replicas.',
    buckets: SEND_BUCKETS,
    registers: [this.registry],
  });

  readonly kafkaSendErrors = new Counter({
    name: `${PREFIX}kafka_send_errors_total`,
    help: 'Kafka produce requests that failed, by error type.',
    labelNames: ['error'] as const,
    registers: [this.registry],
  });

  readonly coredumps = new Counter({
    name: `${PREFIX}coredumps_total`,
    help: 'Crashes that reached the coredump socket, by policy verdict.',
    labelNames: ['verdict'] as const,
    registers: [this.registry],
  });

  readonly coreBytes = new Counter({
    name: `${PREFIX}core_bytes_streamed_total`,
    help: 'Bytes of core dumps read from the coredump socket.',
    registers: [this.registry],
  });

  constructor() {
    const metrics = this as AgentMetrics;
    const stats = (): AgentStats | null => this.#feed?.stats() ?? null;

    new Counter({
      name: `${PREFIX}events_total`,
      help: 'Events handed to the sink, by event type.',
      labelNames: ['type'] as const,
      registers: [this.registry],
      collect() {
        const s = stats();
        this.reset();
        if (s !== null) for (const [type, n] of Object.entries(s.events)) this.inc({ type }, n);
      },
    });
    new Counter({
      name: `${PREFIX}process_exits_total`,
      help: 'Process exits taken from the kernel, by where their status came from.',
      labelNames: ['source'] as const,
      registers: [this.registry],
      collect() {
        const s = stats();
        this.reset();
        if (s !== null) {
          for (const [source, n] of Object.entries(s.exitsBySource)) this.inc({ source }, n);
        }
      },
    });
    new Counter({
      name: `${PREFIX}losses_total`,
      help: 'Records or notices the agent knows it lost, by kind (each also an AgentEvent).',
      labelNames: ['kind'] as const,
      registers: [this.registry],
      collect() {
        const s = stats();
        this.reset();
        if (s !== null) for (const [kind, n] of Object.entries(s.losses)) this.inc({ kind }, n);
      },
    });
    const gauge = (name: string, help: string, read: (s: AgentStats) => number): void => {
      new Gauge({
        name: `${PREFIX}${name}`,
        help,
        registers: [this.registry],
        collect() {
          const s = stats();
          this.set(s === null ? 0 : read(s));
        },
      });
    };
    gauge('watched_processes', 'Processes with an open pidfd.', (s) => s.watched);
    gauge('worker_queue_depth', 'Worker batches sent and not yet back.', (s) => s.workerQueueDepth);
    gauge('sink_queue_depth', 'Stamped events waiting for the sink.', (s) => s.sinkQueueDepth);
    const spool = (pick: (g: SpoolGauge) => number) =>
      function (this: Gauge) {
        const g = metrics.spool?.() ?? null;
        this.set(g === null ? 0 : pick(g));
      };
    new Gauge({
      name: `${PREFIX}spool_bytes`,
      help: 'Bytes in the durable spool not yet acknowledged by Kafka.',
      registers: [this.registry],
      collect: spool((g) => g.bytes),
    });
    new Gauge({
      name: `${PREFIX}spool_oldest_age_seconds`,
      help: 'Age of the oldest record in the spool not yet acknowledged by Kafka, seconds.',
      registers: [this.registry],
      collect: spool((g) => g.oldestAgeSeconds),
    });
  }

  #processMetrics = false;

  /**
   * Adds Node's own metrics (CPU, memory, event-loop delay, open file descriptors), once. Only
   * the serving agent asks for them: a tool that merely updates an instrument starts no
   * collectors.
   */
  collectProcessMetrics(): void {
    if (this.#processMetrics) return;
    this.#processMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
  }

  /** Binds the running agent; unbound, the derived metrics read as zero. */
  bind(feed: MetricsFeed | null): void {
    this.#feed = feed;
  }

  ready(): { ready: boolean; reason: string } {
    return this.#feed?.ready() ?? { ready: false, reason: 'agent not started' };
  }
}

/** The agent's metrics: one set per process, updated by the components that own the values. */
export const agentMetrics = new AgentMetrics();

export interface MetricsServer {
  /** `http://host:port`, with the port the kernel chose when the address asked for 0. */
  url: string;
  close(): Promise<void>;
}

/** `127.0.0.1:9464`, `[::1]:9464`, `0.0.0.0:9464`. */
export function parseListenAddress(address: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(address);
  const port = Number(m?.[3]);
  if (m === null || port > 65535) {
    throw new ConfigError(`config: metrics.address = "${address}": expected host:port`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}

/**
 * Serves /metrics, /healthz and /readyz on `address` until closed, from a thread of its own
 * (ingest/metrics-http.ts) so a busy agent loop does not delay the answer.
 */
export async function startMetricsServer(
  address: string,
  metrics: AgentMetrics = agentMetrics,
): Promise<MetricsServer> {
  const { host, port } = parseListenAddress(address);
  const worker = new Worker(distFile('ingest/metrics-http.js'), {
    workerData: { host, listenPort: port },
  });
  const post = (msg: ToEndpoint): void => worker.postMessage(msg);
  const heartbeat = (): void => post({ type: 'heartbeat', ...metrics.ready() });
  worker.on('message', (msg: FromEndpoint) => {
    if (msg.type === 'readiness') post({ type: 'heartbeat', ...metrics.ready(), id: msg.id });
    if (msg.type !== 'render') return;
    metrics.registry.metrics().then(
      (text) =>
        post({ type: 'metrics', id: msg.id, text, contentType: metrics.registry.contentType }),
      (err: unknown) =>
        post({
          type: 'metrics',
          id: msg.id,
          text: `# collecting metrics failed: ${String(err)}\n`,
          contentType: metrics.registry.contentType,
        }),
    );
  });
  const url = await new Promise<string>((resolve, reject) => {
    const onMessage = (msg: FromEndpoint): void => {
      if (msg.type === 'listening') resolve(msg.url);
      if (msg.type === 'error') reject(new Error(`metrics endpoint on ${address}: ${msg.message}`));
    };
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`metrics endpoint thread exited with ${code}`)));
  }).catch(async (err: unknown) => {
    await worker.terminate();
    throw err;
  });
  heartbeat();
  const timer = setInterval(heartbeat, HEARTBEAT_MS);
  timer.unref();
  worker.unref();
  return {
    url,
    close: async () => {
      clearInterval(timer);
      await worker.terminate();
    },
  };
}
