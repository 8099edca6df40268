/** Everything the agent can be told, with the defaults `pidstream run` starts from. */
import type { LogLevel } from '../common/log.js';
import type { KafkaSinkOptions } from '../streams/kafka-sink.js';
import type { EventSink } from '../streams/types.js';
import { type CoredumpOptions, DEFAULT_COREDUMP_OPTIONS } from './coredump/options.js';
import { DEFAULT_REDACTION_RULES, type RedactionRule } from './redaction.js';

export interface AgentOptions {
  /** Directory of the embedded Avro file sink. */
  outDir: string;
  /** Rotate the current file once it holds this many bytes. */
  rotateBytes: number;
  /** Rotate the current file once it is this old. */
  rotateAgeMs: number;
  /**
   * How long a process may stay a zombie (exited, not reaped) before its exit is written with
   * what is known and marked unreaped.
   */
  zombieTimeoutMs: number;
  redactionRules: readonly RedactionRule[];
  /** Raw exit records per worker batch; a batch also leaves when `batchLingerMs` elapses. */
  batchSize: number;
  /**
   * How long the watcher thread holds a batch after its first record. A batch costs about
   * 0.6 ms of CPU across the watcher, main and worker threads whatever its size; at 10 ms a
   * batch holds about 65 records at full churn, and at 1,000 exits/s the linger is most of
   * the 12 ms p99 from reap to sink (bench:exits).
   */
  batchLingerMs: number;
  /** Piscina worker threads for decode, enrich and encode. */
  workers: number;
  logLevel: LogLevel;
  /** The one-line live status on stderr; shown only when stderr is a terminal. */
  statusLine: boolean;
  /** Crash capture on the coredump socket: core_pattern, policy, store. */
  coredumps: CoredumpOptions;
  /** Overrides the sink (tests, Kafka); the Avro file sink in `outDir` when absent. */
  sink?: EventSink;
  /**
   * Delivery to Kafka through the durable spool instead of the Avro files; a spool overflow
   * becomes a LOSS SPOOL_OVERFLOW AgentEvent (the agent sets `onSpoolOverflow`).
   */
  kafka?: Omit<KafkaSinkOptions, 'onSpoolOverflow'>;
}

export const DEFAULT_AGENT_OPTIONS: Readonly<AgentOptions> = {
  outDir: './pidstream-out',
  rotateBytes: 64 * 1024 * 1024,
  rotateAgeMs: 60 * 60 * 1000,
  zombieTimeoutMs: 30_000,
  redactionRules: DEFAULT_REDACTION_RULES,
  batchSize: 256,
  batchLingerMs: 10,
  workers: 1,
  logLevel: 'info',
  statusLine: true,
  coredumps: DEFAULT_COREDUMP_OPTIONS,
};

/**
 * Caps the agent's queues. Raw records waiting for a worker beyond this many batches are
 * dropped and reported as a RECORD_DROPPED loss: memory stays bounded when the workers cannot
 * keep up.
 */
export const MAX_BATCHES_IN_FLIGHT = 512;
