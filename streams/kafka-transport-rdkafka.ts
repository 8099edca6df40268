/**
 * The librdkafka transport, through @confluentinc/kafka-javascript's producer binding.
 *
 * Why librdkafka: it encodes records, batches and compresses in C on its own threads, and its
 * idempotent producer keeps each partition's order with up to five requests in flight, which
 * kafkajs cannot be trusted to do. `bench:kafka` measures the difference.
 *
 * Why the binding's plain producer and not the package's KafkaJS-compatible API: that API
 * makes a promise per message and rewrites each message object before producing it; counting
 * one batch's delivery reports on one object costs less per event (docs/kafka.md, "Benchmark").
 *
 * Settings that carry the sink's guarantees:
 *   - `enable.idempotence` with `acks=all`: no duplicates or reordering from librdkafka's own
 *     retries; `enable.gapless.guarantee`: an error that could leave a gap in a partition
 *     stops the producer (every queued message fails) instead of skipping ahead, and the sink
 *     resends from the spool;
 *   - `partitioner=murmur2_random`: Java's and kafkajs's partition for a key, so a host's
 *     events stay in one partition whichever transport sends them;
 *   - `message.timeout.ms`: a message not acknowledged this long fails its batch, so the sink
 *     sees an outage, logs it once and keeps the events in the spool while it retries.
 *
 * The package is an optional dependency built from source (scripts/setup.sh); without it
 * choosing this transport fails with a message saying so.
 */
import { createRequire } from 'node:module';

import { PidstreamError } from '../common/errors.js';
import { logger } from '../common/log.js';
import type { KafkaMessage, KafkaTransport, KafkaTransportOptions } from './kafka-transport.js';

const PACKAGE = '@confluentinc/kafka-javascript';
/**
 * Up to 16 batches and 50,000 events unacknowledged at once: enough to keep librdkafka's five
 * requests per broker full while the sender reads the spool, and well under its queue.
 */
const WINDOW = { batches: 16, events: 50_000 };
const QUEUE_MAX_MESSAGES = 2 * WINDOW.events + 10_000;
const LINGER_MS = 5;
const MESSAGE_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 5_000;
const DISCONNECT_TIMEOUT_MS = 5_000;

type Header = Record<string, Buffer>;

interface DeliveryReport {
  opaque?: unknown;
}

/** The part of the binding's Producer this transport uses. */
interface NativeProducer {
  connect(metadata: { allTopics: boolean; timeout: number }, cb: (err: Error | null) => void): void;
  setPollInBackground(on: boolean): void;
  produce(
    topic: string,
    partition: null,
    value: Buffer,
    key: Buffer,
    timestamp: null,
    opaque: unknown,
    headers: Header[],
  ): unknown;
  on(event: 'delivery-report', listener: (err: Error | null, report: DeliveryReport) => void): void;
  on(event: 'event.error' | 'error', listener: (err: Error) => void): void;
  disconnect(timeout: number, cb: (err: Error | null) => void): void;
}

interface Binding {
  Producer: new (config: Record<string, string | number | boolean>) => NativeProducer;
  librdkafkaVersion: string;
}

let binding: Binding | undefined;

/** The binding, loaded once; a PIDSTREAM_ERR_CONFIG error naming the package when absent. */
export function loadBinding(): Binding {
  if (binding !== undefined) return binding;
  try {
    binding = createRequire(import.meta.url)(PACKAGE) as Binding;
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_CONFIG',
      `kafka transport rdkafka: ${PACKAGE} could not be loaded; it is built from source by scripts/setup.sh (or choose the kafkajs transport)`,
      { cause: err },
    );
  }
  return binding;
}

/** The delivery reports of one batch, counted down on one object. */
class PendingBatch {
  remaining: number;
  error: Error | null = null;
  readonly done: Promise<void>;
  #resolve!: () => void;
  #reject!: (err: Error) => void;

  constructor(size: number) {
    this.remaining = size;
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  settleIfDone(): void {
    if (this.remaining > 0) return;
    if (this.error === null) this.#resolve();
    else this.#reject(this.error);
  }
}

export class RdkafkaTransport implements KafkaTransport {
  readonly name = 'rdkafka';
  readonly window = WINDOW;
  #producer: NativeProducer;
  /** The wire encoder's fixed header objects, in the binding's list form, made once each. */
  #headers = new Map<Readonly<Record<string, Buffer>>, Header[]>();

  private constructor(producer: NativeProducer) {
    this.#producer = producer;
  }

  static async connect(options: KafkaTransportOptions): Promise<RdkafkaTransport> {
    const { Producer } = loadBinding();
    const log = logger('rdkafka');
    const producer = new Producer({
      'bootstrap.servers': options.brokers.join(','),
      'client.id': options.clientId,
      'enable.idempotence': true,
      acks: -1,
      'enable.gapless.guarantee': true,
      'compression.codec': options.compression,
      'linger.ms': LINGER_MS,
      'message.timeout.ms': MESSAGE_TIMEOUT_MS,
      partitioner: 'murmur2_random',
      'queue.buffering.max.messages': QUEUE_MAX_MESSAGES,
      dr_cb: true,
    });
    // librdkafka reports every failed connection attempt here and retries on its own; what
    // matters reaches the sink as failed deliveries, which it logs once per outage.
    const debug = (err: Error): void => log.debug({ err }, 'librdkafka reported an error');
    producer.on('event.error', debug);
    producer.on('error', debug);
    producer.on('delivery-report', (err, report) => {
      const batch = report.opaque;
      // Every message this transport produces carries its batch; anything else is not ours.
      if (!(batch instanceof PendingBatch)) return;
      if (err !== null) batch.error ??= err;
      batch.remaining -= 1;
      batch.settleIfDone();
    });
    await new Promise<void>((resolve, reject) => {
      producer.connect({ allTopics: false, timeout: CONNECT_TIMEOUT_MS }, (err) =>
        err === null || err === undefined ? resolve() : reject(err),
      );
    });
    producer.setPollInBackground(true);
    return new RdkafkaTransport(producer);
  }

  send(messages: readonly KafkaMessage[]): Promise<void> {
    const batch = new PendingBatch(messages.length);
    const producer = this.#producer;
    let produced = 0;
    try {
      for (const { topic, key, value, headers } of messages) {
        producer.produce(topic, null, value, key, null, batch, this.#headerList(headers));
        produced += 1;
      }
    } catch (err) {
      // Those already queued still report; the batch fails once they have.
      batch.error = err as Error;
      batch.remaining -= messages.length - produced;
    }
    batch.settleIfDone();
    return batch.done;
  }

  close(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#producer.disconnect(DISCONNECT_TIMEOUT_MS, (err) =>
        err === null || err === undefined ? resolve() : reject(err),
      );
    });
  }

  #headerList(headers: Readonly<Record<string, Buffer>>): Header[] {
    let list = this.#headers.get(headers);
    if (list === undefined) {
      list = Object.entries(headers).map(([name, value]) => ({ [name]: value }));
      this.#headers.set(headers, list);
    }
    return list;
  }
}
