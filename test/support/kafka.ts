/**
 * The real Kafka broker the suites use: a single-node KRaft broker from Apache's jars, run by
 * scripts/kafka/start.sh on 127.0.0.1:39092. Started once per test run by global-setup.ts
 * (which leaves a broker it did not start alone) and addressed through PIDSTREAM_TEST_KAFKA.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Kafka, logLevel } from 'kafkajs';

import { packageRoot } from '../../common/paths.js';

const run = promisify(execFile);

export const KAFKA_ENV = 'PIDSTREAM_TEST_KAFKA';

function script(name: string): string {
  return join(packageRoot(), 'scripts', 'kafka', name);
}

function pidFile(): string {
  return join(packageRoot(), '.cache', 'kafka', 'broker.pid');
}

/** True when the broker the scripts manage is running. */
export function brokerRunning(): boolean {
  if (!existsSync(pidFile())) return false;
  const pid = Number(readFileSync(pidFile(), 'utf8').trim());
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Starts the broker (fetching the jars on first use) and returns its bootstrap address. */
export async function startBroker(): Promise<string> {
  const { stdout } = await run('bash', [script('start.sh')], { timeout: 600_000 });
  return stdout.trim().split('\n').pop() as string;
}

/** Stops the broker with SIGTERM and waits for it to exit; its data stays. */
export async function stopBroker(): Promise<void> {
  await run('bash', [script('stop.sh')], { timeout: 120_000 });
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
  const ends = await admin.fetchTopicOffsets(topic);
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
