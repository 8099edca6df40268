/**
 * The real Kafka broker the suites use: a single-node KRaft broker from Apache's jars, run by
 * scripts/kafka/start.sh on 127.0.0.1:39092. Started once per test run by global-setup.ts,
 * stopped when the last run using it ends, and addressed through PIDSTREAM_TEST_KAFKA.
 */
import { randomUUID } from 'node:crypto';

import { Kafka, logLevel } from 'kafkajs';

import { SharedService } from './shared-service.js';

export const KAFKA_ENV = 'PIDSTREAM_TEST_KAFKA';

const broker = new SharedService('kafka', 'broker.pid');

/** True when the broker the scripts manage is running. */
export function brokerRunning(): boolean {
  return broker.running();
}

/** Starts the broker (fetching the jars on first use) and returns its bootstrap address. */
export function startBroker(): Promise<string> {
  return broker.start();
}

/** Stops the broker with SIGTERM and waits for it to exit; its data stays. */
export function stopBroker(): Promise<void> {
  return broker.stop();
}

/** Registers this test run as a user of the broker and starts it if needed. */
export function acquireBroker(): Promise<string> {
  return broker.acquire();
}

/** Unregisters this run; stops a broker the tests started once no other live run uses it. */
export function releaseBroker(): Promise<void> {
  return broker.release();
}

/** The bootstrap address global-setup published; fails loudly if the broker was not started. */
export function kafkaBootstrap(): string {
  const address = process.env[KAFKA_ENV];
  if (address === undefined || address === '') {
    throw new Error(`${KAFKA_ENV} is not set: the Kafka broker was not started by global-setup`);
  }
  return address;
}

export interface ConsumedMessage {
  partition: number;
  offset: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

/**
 * Every message of `topic` up to its current end, read by a plain kafkajs consumer (not
 * pidstream's source), so the tests check what any Kafka client sees.
 */
export async function consumeTopic(topic: string): Promise<ConsumedMessage[]> {
  const kafka = new Kafka({ brokers: [kafkaBootstrap()], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  // A topic nothing was written to does not exist: it holds no messages.
  const exists = (await admin.listTopics()).includes(topic);
  const ends = exists ? await admin.fetchTopicOffsets(topic) : [];
  await admin.disconnect();
  const total = ends.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  const out: ConsumedMessage[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `pidstream-test-${randomUUID()}` });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await new Promise<void>((resolve) => {
    void consumer.run({
      eachMessage: async ({ partition, message }) => {
        out.push({
          partition,
          offset: Number(message.offset),
          key: String(message.key),
          headers: Object.fromEntries(
            Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
          ),
          value: message.value as Buffer,
        });
        if (out.length >= total) resolve();
      },
    });
  });
  await consumer.disconnect();
  return out;
}
