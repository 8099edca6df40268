/**
 * The kafkajs transport. kafkajs's idempotent producer has lost messages without an error
 * when more sends were in flight than partitions, and across a broker failure; here one
 * `sendBatch` is in flight at a time (maxInFlightRequests 1, a window of one batch) and the
 * sink throws the producer away after any error.
 */
import { CompressionTypes, Partitioners, type Producer, type TopicMessages } from 'kafkajs';

import { kafkaClient } from './kafka-client.js';
import type {
  KafkaCompression,
  KafkaMessage,
  KafkaTransport,
  KafkaTransportOptions,
} from './kafka-transport.js';

/**
 * kafkajs puts one host's events of one topic in one record batch, which the broker refuses
 * above its message.max.bytes (1 MiB by default); the sink's per-batch byte cap keeps below it.
 */
const WINDOW = { batches: 1, events: Infinity };
const SEND_TIMEOUT_MS = 30_000;

const COMPRESSION: Record<KafkaCompression, CompressionTypes> = {
  gzip: CompressionTypes.GZIP,
  none: CompressionTypes.None,
};

export class KafkajsTransport implements KafkaTransport {
  readonly name = 'kafkajs';
  readonly window = WINDOW;
  #producer: Producer;
  #compression: CompressionTypes;

  private constructor(producer: Producer, compression: KafkaCompression) {
    this.#producer = producer;
    this.#compression = COMPRESSION[compression];
  }

  static async connect(options: KafkaTransportOptions): Promise<KafkajsTransport> {
    const producer = kafkaClient(options.brokers, options.clientId).producer({
      idempotent: true,
      maxInFlightRequests: 1,
      allowAutoTopicCreation: true,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    });
    await producer.connect();
    return new KafkajsTransport(producer, options.compression);
  }

  async send(messages: readonly KafkaMessage[]): Promise<void> {
    // Grouped by topic in spool order: kafkajs appends the lists of one topic to a partition
    // one after the other, so one list per topic keeps a host's events in order even when
    // several event types share a topic.
    const byTopic = new Map<string, TopicMessages>();
    for (const { topic, key, value, headers } of messages) {
      let entry = byTopic.get(topic);
      if (entry === undefined) {
        entry = { topic, messages: [] };
        byTopic.set(topic, entry);
      }
      entry.messages.push({ key, value, headers: headers as Record<string, Buffer> });
    }
    await this.#producer.sendBatch({
      topicMessages: [...byTopic.values()],
      acks: -1,
      timeout: SEND_TIMEOUT_MS,
      compression: this.#compression,
    });
  }

  async close(): Promise<void> {
    await this.#producer.disconnect();
  }
}
