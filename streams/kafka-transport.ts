/**
 * The producer underneath the Kafka sink. The sink owns ordering, the spool and every retry;
 * a transport only carries one batch of messages to the brokers and says, for the whole batch,
 * whether every message in it was acknowledged by all in-sync replicas.
 *
 * Two transports:
 *   - `kafkajs`: the pure-JavaScript client, one produce request in flight (its idempotent
 *     producer has lost messages with more than one in flight); works wherever Node runs;
 *   - `rdkafka`: librdkafka through @confluentinc/kafka-javascript, an optional dependency
 *     built from source by scripts/setup.sh. Its idempotent producer keeps order with several
 *     requests in flight, and encodes in C, so it carries about 1.6 times the events per
 *     second of kafkajs here (docs/kafka.md, "Benchmark").
 */
import { PidstreamError } from '../common/errors.js';

export const KAFKA_TRANSPORTS = ['kafkajs', 'rdkafka'] as const;
export type KafkaTransportName = (typeof KAFKA_TRANSPORTS)[number];
export const DEFAULT_KAFKA_TRANSPORT: KafkaTransportName = 'kafkajs';

export type KafkaCompression = 'gzip' | 'none';

/** One event as a Kafka message. `headers` is one of the wire encoder's fixed objects. */
export interface KafkaMessage {
  topic: string;
  key: Buffer;
  value: Buffer;
  headers: Readonly<Record<string, Buffer>>;
}

export interface KafkaTransportOptions {
  brokers: readonly string[];
  clientId: string;
  compression: KafkaCompression;
}

export interface KafkaTransport {
  readonly name: KafkaTransportName;
  /**
   * How many batches the sink may have sent and not yet settled, and how many events they may
   * hold together. The sink acknowledges batches in the order it sent them.
   */
  readonly window: { batches: number; events: number };
  /**
   * Sends the messages in order (one host's messages of one topic keep their order) and
   * resolves once every one was acknowledged with acks=all; rejects if any was not. Settles
   * only when the transport holds none of these messages any more, so a resend after a
   * rejection cannot be overtaken by a late copy.
   */
  send(messages: readonly KafkaMessage[]): Promise<void>;
  /** Disconnects. Called only when no batch is in flight. */
  close(): Promise<void>;
}

/** Fails now, naming what is missing, when the transport cannot run on this machine. */
export async function checkTransport(name: KafkaTransportName): Promise<void> {
  if (name === 'rdkafka') (await import('./kafka-transport-rdkafka.js')).loadBinding();
  else if (name !== 'kafkajs') {
    throw new PidstreamError(
      'PIDSTREAM_ERR_CONFIG',
      `kafka transport '${String(name)}': expected one of ${KAFKA_TRANSPORTS.join(', ')}`,
    );
  }
}

/** Connects a producer of the named transport. */
export async function openTransport(
  name: KafkaTransportName,
  options: KafkaTransportOptions,
): Promise<KafkaTransport> {
  switch (name) {
    case 'kafkajs': {
      const { KafkajsTransport } = await import('./kafka-transport-kafkajs.js');
      return KafkajsTransport.connect(options);
    }
    case 'rdkafka': {
      const { RdkafkaTransport } = await import('./kafka-transport-rdkafka.js');
      return RdkafkaTransport.connect(options);
    }
    default:
      await checkTransport(name);
      throw new Error(`unreachable: transport ${String(name)} passed its check`);
  }
}
