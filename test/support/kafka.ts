/**
 * The real Kafka broker the suites use: a single-node KRaft broker from Apache's jars, run by
 * scripts/kafka/start.sh on 127.0.0.1:39092. Started once per test run by global-setup.ts,
 * stopped when the last run using it ends, and addressed through PIDSTREAM_TEST_KAFKA.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  return alive(Number(readFileSync(pidFile(), 'utf8').trim()));
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

function usersDir(): string {
  return join(packageRoot(), '.cache', 'kafka', 'users');
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/**
 * Registers this test run as a user of the broker and starts it if needed. Several runs on
 * one machine (engineers running their own suites side by side) share the broker; each
 * registers its pid, and only the last one out stops it.
 */
export async function acquireBroker(): Promise<string> {
  mkdirSync(usersDir(), { recursive: true });
  writeFileSync(join(usersDir(), String(process.pid)), '');
  // A broker started by hand (scripts/kafka/start.sh) is used and left running.
  if (!brokerRunning()) writeFileSync(startedByTests(), '');
  return startBroker();
}

function startedByTests(): string {
  return join(packageRoot(), '.cache', 'kafka', 'started-by-tests');
}

/** Unregisters this run; stops a broker the tests started once no other live run uses it. */
export async function releaseBroker(): Promise<void> {
  rmSync(join(usersDir(), String(process.pid)), { force: true });
  const others = readdirSync(usersDir()).filter((name) => {
    if (alive(Number(name))) return true;
    rmSync(join(usersDir(), name), { force: true });
    return false;
  });
  if (others.length > 0 || !existsSync(startedByTests())) return;
  rmSync(startedByTests(), { force: true });
  await stopBroker();
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
