/**
 * Delivers stamped events to Kafka through the durable spool. `write` appends to the spool and
 * resolves once the events are as durable as the spool's fsync policy makes them; one sender
 * loop reads the spool in order and hands it, batch by batch, to a transport
 * (streams/kafka-transport.ts: kafkajs or librdkafka).
 *
 * Why the send path looks like this: kafkajs's idempotent producer has lost messages without
 * an error when several sends were in flight at once (more concurrent sends than partitions)
 * and across a broker failure. Here that cannot bite, whichever transport sends:
 *   - the spool is the source of truth: an event leaves it only after the batch that carried
 *     it, and every batch before it, was acknowledged by all in-sync replicas (acks -1);
 *   - batches in flight at once are the transport's window: one for kafkajs, several for
 *     librdkafka, whose idempotent producer keeps a partition's order across them;
 *   - on any send error the sender waits until no batch is in flight, throws the producer
 *     away, makes a new one (new producer id, fresh sequence numbers) and sends the whole
 *     unacknowledged range again.
 * The price is possible duplicates after an error; every event carries its id (boot id,
 * instance id, seq), so `pidstream verify` and consumers drop them.
 *
 * Messages are keyed by host (one host's events stay in one partition, in order) and carry the
 * event type and schema fingerprint as headers.
 */
import { PidstreamError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { agentMetrics } from '../ingest/metrics.js';
import type { StampedEvent } from '../ingest/sequencer.js';
import { eventTimeUs } from './event-time.js';
import { DEFAULT_SPOOL_MAX_BYTES, DEFAULT_TOPICS, type TopicMap } from './kafka-defaults.js';
import {
  DEFAULT_KAFKA_TRANSPORT,
  type KafkaCompression,
  type KafkaMessage,
  type KafkaTransport,
  type KafkaTransportName,
  checkTransport,
  openTransport,
} from './kafka-transport.js';
import { type FsyncPolicy, Spool, type SpoolRecord } from './spool.js';
import type { EventSink } from './types.js';
import { confluentEncoder, singleObjectEncoder, type WireEncoder } from './wire.js';

export type { KafkaCompression, KafkaTransportName } from './kafka-transport.js';
export type SpoolOverflowHandler = (dropped: number, droppedTotal: number) => void;

export interface KafkaSinkOptions {
  brokers: readonly string[];
  topics?: Partial<TopicMap>;
  spoolDir: string;
  /**
   * The spool directory is this sink's alone (a tool's throw-away spool): `close` removes it
   * once everything in it was delivered.
   */
  spoolIsTemporary?: boolean;
  spoolMaxBytes?: number;
  spoolFsync?: FsyncPolicy;
  /** Confluent wire format with schemas registered here; single-object encoding when absent. */
  schemaRegistry?: string;
  compression?: KafkaCompression;
  /** The producer underneath: kafkajs (the default) or librdkafka. */
  transport?: KafkaTransportName;
  /** How long the sender waits for more events before sending a batch that is not full. */
  lingerMs?: number;
  /** How long `close` waits for the spool to drain before leaving the rest for the next start. */
  closeTimeoutMs?: number;
  clientId?: string;
  /**
   * Called (asynchronously) with the number of events the spool cap just forced out and the
   * total since open. The total matters: a later overflow may drop the loss event itself, and
   * the last one that survives still accounts for everything before it.
   */
  onSpoolOverflow?: SpoolOverflowHandler;
}

export { DEFAULT_SPOOL_MAX_BYTES };
export const DEFAULT_LINGER_MS = 5;
/** A clean stop waits this long for the spool to drain (systemd allows 90 s by default). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
/**
 * One batch carries at most this many events and about this many bytes. One host's events of
 * one topic land in one partition, and kafkajs puts them in one record batch, which the broker
 * refuses above its message.max.bytes (1 MiB by default): the byte cap stays below.
 */
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_BYTES = 768 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;

interface FlushWaiter {
  target: number;
  resolve: () => void;
}

/** A batch handed to the transport: the spool offset after its last event, and its outcome. */
interface InFlight {
  end: number;
  count: number;
  /** Event time of its first event, for the oldest-pending gauge. */
  firstUs: number;
  /** Resolves with null once acknowledged, or with the error that failed it; never rejects. */
  outcome: Promise<unknown>;
}

const WOKEN = Symbol('woken');

export class KafkaSink implements EventSink {
  readonly spool: Spool;
  readonly topics: TopicMap;
  #options: KafkaSinkOptions;
  #encoder: WireEncoder;
  #transport: KafkaTransport | null = null;
  #log = logger('kafka-sink');
  #wake: (() => void) | null = null;
  #waiters: FlushWaiter[] = [];
  #closing = false;
  #stopped = false;
  #loop: Promise<void>;
  #inFlight: InFlight[] = [];
  #inFlightEvents = 0;
  #outageSince: number | null = null;
  #onOverflow: SpoolOverflowHandler | undefined;
  #droppedTotal = 0;
  /** Event time of the oldest record not yet acknowledged, as of the last send; for metrics. */
  #oldestPendingUs: number | null = null;
  /** Events acknowledged by Kafka since open; for status lines and tests. */
  delivered = 0;

  private constructor(options: KafkaSinkOptions, spool: Spool, encoder: WireEncoder) {
    this.#options = options;
    this.spool = spool;
    this.#encoder = encoder;
    this.topics = { ...DEFAULT_TOPICS, ...options.topics };
    this.#onOverflow = options.onSpoolOverflow;
    this.#loop = this.#run();
    agentMetrics.spool = () => ({
      bytes: this.spool.bytes,
      oldestAgeSeconds:
        this.#oldestPendingUs === null
          ? 0
          : Math.max(0, Date.now() / 1000 - this.#oldestPendingUs / 1e6),
    });
  }

  /** Opens the spool (recovering what a previous run left), registers schemas, starts sending. */
  static async open(options: KafkaSinkOptions): Promise<KafkaSink> {
    if (options.brokers.length === 0) {
      throw new PidstreamError('PIDSTREAM_ERR_CONFIG', 'kafka sink: no broker given');
    }
    await checkTransport(options.transport ?? DEFAULT_KAFKA_TRANSPORT);
    const topics = { ...DEFAULT_TOPICS, ...options.topics };
    const encoder =
      options.schemaRegistry === undefined
        ? singleObjectEncoder()
        : await confluentEncoder(options.schemaRegistry, topics);
    const spool = Spool.open({
      dir: options.spoolDir,
      maxBytes: options.spoolMaxBytes ?? DEFAULT_SPOOL_MAX_BYTES,
      fsync: options.spoolFsync ?? 'batch',
    });
    const sink = new KafkaSink(options, spool, encoder);
    const { pending, truncatedBytes } = spool.recovery;
    if (pending > 0 || truncatedBytes > 0) {
      sink.#log.info(
        { spool: options.spoolDir, pending, truncatedBytes },
        'spool recovered; sending what it holds first',
      );
    }
    return sink;
  }

  /** Where the spool-overflow count goes; the agent records it as a LOSS AgentEvent. */
  set onSpoolOverflow(handler: SpoolOverflowHandler | undefined) {
    this.#onOverflow = handler;
  }

  async write(events: readonly StampedEvent[]): Promise<void> {
    if (this.#closing) {
      throw new PidstreamError('PIDSTREAM_ERR_SINK', 'writing to a closed Kafka sink');
    }
    const dropped = this.spool.append(events);
    this.#wake?.();
    if (dropped > 0) {
      const total = (this.#droppedTotal += dropped);
      this.#log.warn(
        { dropped, total, capBytes: this.spool.maxBytes },
        'spool full; oldest dropped',
      );
      const handler = this.#onOverflow;
      // Later, not inside this write: the handler writes the loss event to this very sink.
      if (handler !== undefined) setImmediate(() => handler(dropped, total));
    }
    await this.spool.sync();
  }

  /** Resolves once everything written so far has been acknowledged by Kafka. */
  flush(): Promise<void> {
    const target = this.spool.endOffset;
    if (this.spool.ackOffset >= target || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ target, resolve }));
  }

  /**
   * Drains for up to `closeTimeoutMs`, then stops; what is left stays in the spool. A
   * temporary spool is removed when nothing is left in it.
   */
  async close(): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    const timeout = this.#options.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, timeout))),
    ]);
    clearTimeout(timer);
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    await this.#dropTransport();
    const left = this.spool.pending;
    const spool = this.#options.spoolDir;
    if (left > 0)
      this.#log.warn({ left, spool }, 'kafka sink closed with events left in the spool');
    this.spool.close();
    if (left === 0 && this.#options.spoolIsTemporary === true) this.spool.remove();
    agentMetrics.spool = null;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  /**
   * The sender: keeps up to the transport's window of batches in flight, acknowledges them in
   * the order they were sent, and after a failure resends everything unacknowledged.
   */
  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    while (!this.#stopped) {
      const unread = this.spool.readOffset < this.spool.endOffset;
      if (!unread && this.#inFlight.length === 0) {
        await this.#idle();
        continue;
      }
      let failure: unknown = null;
      try {
        const transport = await this.#connectedTransport();
        const { batches, events } = transport.window;
        const room = this.#inFlight.length < batches && this.#inFlightEvents < events;
        if (unread && room) {
          this.#sendNext(transport, Math.min(MAX_BATCH_EVENTS, events - this.#inFlightEvents));
          continue;
        }
        failure = await this.#settleOldest(room);
      } catch (err) {
        failure = err;
      }
      if (failure === null) {
        backoff = BACKOFF_MIN_MS;
        continue;
      }
      await this.#recover(failure);
      if (this.#stopped) break;
      await sleep(backoff);
      backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
    }
    // Stopping: what is still in flight settles, and what was acknowledged counts.
    while (this.#inFlight.length > 0) {
      const failure = await this.#settleOldest(false);
      if (failure !== null) await this.#recover(failure);
    }
  }

  /** Waits for the next write; then, a bounded linger lets a batch that is not full fill up. */
  async #idle(): Promise<void> {
    await new Promise<void>((resolve) => (this.#wake = resolve));
    this.#wake = null;
    const linger = this.#options.lingerMs ?? DEFAULT_LINGER_MS;
    if (linger > 0 && !this.#stopped && this.spool.pending < MAX_BATCH_EVENTS) {
      await sleep(linger);
    }
  }

  #sendNext(transport: KafkaTransport, maxEvents: number): void {
    const batch = this.spool.read(maxEvents, MAX_BATCH_BYTES);
    const last = batch[batch.length - 1];
    if (last === undefined) return;
    const firstUs = eventTimeUs((batch[0] as SpoolRecord).bytes);
    this.#oldestPendingUs ??= firstUs;
    const sentAt = performance.now();
    const outcome = transport.send(this.#messages(batch)).then(
      () => {
        agentMetrics.kafkaSendSeconds.observe((performance.now() - sentAt) / 1000);
        return null;
      },
      (err: unknown) => err ?? new Error('kafka send failed'),
    );
    this.#inFlight.push({ end: last.offset + 1, count: batch.length, firstUs, outcome });
    this.#inFlightEvents += batch.length;
  }

  /**
   * Waits for the oldest batch in flight (or, when `orWrite`, for a write that gives more to
   * send) and acknowledges it. Returns null, or the error that failed the batch.
   */
  async #settleOldest(orWrite: boolean): Promise<unknown> {
    const head = this.#inFlight[0] as InFlight;
    const woken = orWrite
      ? new Promise<typeof WOKEN>((resolve) => (this.#wake = () => resolve(WOKEN)))
      : null;
    const result = await (woken === null ? head.outcome : Promise.race([head.outcome, woken]));
    if (woken !== null) this.#wake = null;
    if (result === WOKEN) return null;
    this.#inFlight.shift();
    this.#inFlightEvents -= head.count;
    if (result !== null) return result;
    this.spool.ack(head.end);
    this.delivered += head.count;
    this.#oldestPendingUs = this.#inFlight[0]?.firstUs ?? null;
    this.#outageOver();
    this.#resolveWaiters();
    return null;
  }

  /**
   * After a failure: waits until no batch is in flight (a late copy must not overtake the
   * resend), throws the producer away and rewinds the spool to the first unacknowledged event.
   */
  async #recover(err: unknown): Promise<void> {
    if (err !== null) {
      agentMetrics.kafkaSendErrors.inc({ error: err instanceof Error ? err.name : 'unknown' });
      this.#outageBegins(err);
    }
    await Promise.all(this.#inFlight.map((b) => b.outcome));
    this.#inFlight = [];
    this.#inFlightEvents = 0;
    this.spool.rewind();
    await this.#dropTransport();
  }

  #messages(batch: readonly SpoolRecord[]): KafkaMessage[] {
    const topics = this.topics;
    const encoder = this.#encoder;
    let size = 0;
    for (const { name, bytes } of batch) size += encoder.prefix(name).length + bytes.length;
    // Every framed value of the batch in one buffer: a buffer per message cost more than the
    // framing itself (bench:kafka). The buffer is never reused, so no copy is needed.
    const values = Buffer.allocUnsafe(size);
    const out: KafkaMessage[] = [];
    let at = 0;
    for (const { name, bytes } of batch) {
      const start = at;
      at += encoder.prefix(name).copy(values, at);
      at += bytes.copy(values, at);
      out.push({
        topic: topics[name],
        key: hostKey(bytes),
        value: values.subarray(start, at),
        headers: encoder.headers(name),
      });
    }
    return out;
  }

  async #connectedTransport(): Promise<KafkaTransport> {
    if (this.#transport !== null) return this.#transport;
    this.#transport = await openTransport(this.#options.transport ?? DEFAULT_KAFKA_TRANSPORT, {
      brokers: this.#options.brokers,
      clientId: this.#options.clientId ?? 'pidstream-agent',
      compression: this.#options.compression ?? 'gzip',
    });
    return this.#transport;
  }

  async #dropTransport(): Promise<void> {
    const transport = this.#transport;
    this.#transport = null;
    if (transport === null) return;
    try {
      await transport.close();
    } catch (err) {
      this.#log.debug({ err }, 'disconnecting a failed producer failed; dropping it anyway');
    }
  }

  #outageBegins(err: unknown): void {
    if (this.#outageSince !== null) return;
    this.#outageSince = Date.now();
    this.#log.warn(
      { err, brokers: this.#options.brokers, pending: this.spool.pending },
      'kafka send failed; spooling and retrying',
    );
  }

  #outageOver(): void {
    if (this.#outageSince === null) return;
    const seconds = (Date.now() - this.#outageSince) / 1000;
    this.#outageSince = null;
    this.#log.info({ seconds, pending: this.spool.pending }, 'kafka reachable again; draining');
  }

  #resolveWaiters(): void {
    const acked = this.spool.ackOffset;
    this.#waiters = this.#waiters.filter((w) => {
      if (w.target > acked) return true;
      w.resolve();
      return false;
    });
  }
}

/**
 * The host name from the stamp, the record's first field: the message key. Read as raw bytes
 * (zig-zag varint length, then UTF-8) without decoding the record; events replayed from many
 * hosts each get their own host's key.
 */
export function hostKey(record: Buffer): Buffer {
  let shift = 0;
  let n = 0;
  let pos = 0;
  for (;;) {
    const b = record[pos++] as number;
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) break;
    shift += 7;
  }
  const length = n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  return record.subarray(pos, pos + length);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
