/**
 * Delivers stamped events to Kafka through the durable spool. `write` appends to the spool and
 * resolves once the events are as durable as the spool's fsync policy makes them; one sender
 * loop reads the spool in order and produces it.
 *
 * Why the send path looks like this: kafkajs's idempotent producer has lost messages without
 * an error when several sends were in flight at once (more concurrent sends than partitions)
 * and across a broker failure. Here that cannot bite:
 *   - one send at a time per producer, awaited before the next (maxInFlightRequests 1);
 *   - the spool is the source of truth: an event leaves it only after the send that carried
 *     it was acknowledged by all in-sync replicas (acks -1);
 *   - on any send error the producer is thrown away, a new one (new producer id, fresh
 *     sequence numbers) is made, and the whole unacknowledged range is sent again.
 * The price is possible duplicates after an error; every event carries its id (boot id,
 * instance id, seq), so `pidstream verify` and consumers drop them.
 *
 * Messages are keyed by host (one host's events stay in one partition, in order) and carry the
 * event type and schema fingerprint as headers.
 */
import { CompressionTypes, Partitioners, type Producer, type TopicMessages } from 'kafkajs';

import { PidstreamError } from '../common/errors.js';
import { logger } from '../common/log.js';
import { agentMetrics } from '../ingest/metrics.js';
import type { StampedEvent } from '../ingest/sequencer.js';
import { eventTimeUs } from './event-time.js';
import { DEFAULT_TOPICS, kafkaClient, type TopicMap } from './kafka-client.js';
import { type FsyncPolicy, Spool } from './spool.js';
import type { EventSink } from './types.js';
import { confluentEncoder, singleObjectEncoder, type WireEncoder } from './wire.js';

export type KafkaCompression = 'gzip' | 'none';
export type SpoolOverflowHandler = (dropped: number, droppedTotal: number) => void;

export interface KafkaSinkOptions {
  brokers: readonly string[];
  topics?: Partial<TopicMap>;
  spoolDir: string;
  spoolMaxBytes?: number;
  spoolFsync?: FsyncPolicy;
  /** Confluent wire format with schemas registered here; single-object encoding when absent. */
  schemaRegistry?: string;
  compression?: KafkaCompression;
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

export const DEFAULT_SPOOL_MAX_BYTES = 512 * 1024 * 1024;
export const DEFAULT_LINGER_MS = 5;
/** A clean stop waits this long for the spool to drain (systemd allows 90 s by default). */
export const DEFAULT_CLOSE_TIMEOUT_MS = 30_000;
/**
 * One produce request carries at most this many events and about this many bytes. One host's
 * events of one topic land in one partition, and kafkajs puts them in one record batch, which
 * the broker refuses above its message.max.bytes (1 MiB by default): the byte cap stays below.
 */
export const MAX_BATCH_EVENTS = 10_000;
export const MAX_BATCH_BYTES = 768 * 1024;
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5_000;

const COMPRESSION: Record<KafkaCompression, CompressionTypes> = {
  gzip: CompressionTypes.GZIP,
  none: CompressionTypes.None,
};

interface FlushWaiter {
  target: number;
  resolve: () => void;
}

export class KafkaSink implements EventSink {
  readonly spool: Spool;
  readonly topics: TopicMap;
  #options: KafkaSinkOptions;
  #encoder: WireEncoder;
  #producer: Producer | null = null;
  #log = logger('kafka-sink');
  #wake: (() => void) | null = null;
  #waiters: FlushWaiter[] = [];
  #closing = false;
  #stopped = false;
  #loop: Promise<void>;
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

  /** Drains for up to `closeTimeoutMs`, then stops; what is left stays in the spool. */
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
    await this.#dropProducer();
    const left = this.spool.pending;
    if (left > 0) this.#log.warn({ left }, 'kafka sink closed with events left in the spool');
    this.spool.close();
    agentMetrics.spool = null;
    for (const waiter of this.#waiters.splice(0)) waiter.resolve();
  }

  async #run(): Promise<void> {
    let backoff = BACKOFF_MIN_MS;
    const linger = this.#options.lingerMs ?? DEFAULT_LINGER_MS;
    while (!this.#stopped) {
      if (this.spool.readOffset >= this.spool.endOffset) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = null;
        // Bounded linger: a batch that is not full waits this long for company.
        if (linger > 0 && !this.#stopped && this.spool.pending < MAX_BATCH_EVENTS) {
          await sleep(linger);
        }
        continue;
      }
      const batch = this.spool.read(MAX_BATCH_EVENTS, MAX_BATCH_BYTES);
      try {
        await this.#send(batch);
        const last = batch[batch.length - 1];
        if (last !== undefined) this.spool.ack(last.offset + 1);
        this.#oldestPendingUs = null;
        this.delivered += batch.length;
        backoff = BACKOFF_MIN_MS;
        this.#outageOver();
        this.#resolveWaiters();
      } catch (err) {
        agentMetrics.kafkaSendErrors.inc({ error: err instanceof Error ? err.name : 'unknown' });
        this.#outageBegins(err);
        this.spool.rewind();
        await this.#dropProducer();
        if (this.#stopped) break;
        await sleep(backoff);
        backoff = Math.min(BACKOFF_MAX_MS, backoff * 2);
      }
    }
  }

  async #send(batch: ReturnType<Spool['read']>): Promise<void> {
    if (batch.length === 0) return;
    this.#oldestPendingUs ??= eventTimeUs((batch[0] as { bytes: Buffer }).bytes);
    const producer = await this.#connectedProducer();
    // Keyed by topic, not by event type: when several types share a topic (a replay into one
    // topic), kafkajs appends the lists of one topic to a partition one after the other, and
    // a list per type would put a host's Coredumps after its later ProcessExits.
    const byTopic = new Map<string, TopicMessages>();
    for (const record of batch) {
      const topic = this.topics[record.name];
      let entry = byTopic.get(topic);
      if (entry === undefined) {
        entry = { topic, messages: [] };
        byTopic.set(topic, entry);
      }
      entry.messages.push({
        key: hostKey(record.bytes),
        value: this.#encoder.frame(record.name, record.bytes),
        headers: this.#encoder.headers(record.name),
      });
    }
    const sentAt = performance.now();
    await producer.sendBatch({
      topicMessages: [...byTopic.values()],
      acks: -1,
      timeout: 30_000,
      compression: COMPRESSION[this.#options.compression ?? 'gzip'],
    });
    agentMetrics.kafkaSendSeconds.observe((performance.now() - sentAt) / 1000);
  }

  async #connectedProducer(): Promise<Producer> {
    if (this.#producer !== null) return this.#producer;
    const kafka = kafkaClient(this.#options.brokers, this.#options.clientId ?? 'pidstream-agent');
    const producer = kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    await producer.connect();
    this.#producer = producer;
    return producer;
  }

  async #dropProducer(): Promise<void> {
    const producer = this.#producer;
    this.#producer = null;
    if (producer === null) return;
    try {
      await producer.disconnect();
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
