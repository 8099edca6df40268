import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Kafka } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { KafkaSink } from '../streams/kafka-sink.js';
import { KafkaSource } from '../streams/kafka-source.js';
import type { ReadEvent } from '../streams/types.js';
import { fingerprintBytes } from '../streams/wire.js';
import { kafkaBootstrap } from './support/kafka.js';
import { notices, testSequencer } from './support/kafka-events.js';
import { freshTopics } from './support/kafka-topics.js';

let spoolDir: string;

beforeEach(() => {
  spoolDir = mkdtempSync(join(tmpdir(), 'pidstream-kafka-'));
});

afterEach(() => {
  rmSync(spoolDir, { recursive: true, force: true });
});

describe('Kafka sink', () => {
  it('delivers every event once, in order, keyed by host, with type and fingerprint headers', async () => {
    const brokers = [kafkaBootstrap()];
    const topics = freshTopics('delivery');
    const sink = await KafkaSink.open({ brokers, topics, spoolDir });
    const sequencer = testSequencer('host-delivery');
    const events = notices(sequencer, 2500);
    for (let i = 0; i < events.length; i += 100) await sink.write(events.slice(i, i + 100));
    await sink.flush();
    expect(sink.spool.pending).toBe(0);
    await sink.close();

    const read: ReadEvent[] = [];
    for await (const event of new KafkaSource({ brokers, topics: [topics.AgentEvent] }).events()) {
      read.push(event);
    }
    expect(read.length).toBe(2500);
    expect(
      read.map((e) => e.bytes.equals((events[read.indexOf(e)] as { bytes: Buffer }).bytes)),
    ).toEqual(Array(2500).fill(true));
    expect(new Set(read.map((e) => e.position.split('@')[0])).size).toBe(1);

    // The raw message, as any Kafka consumer sees it.
    const admin = new Kafka({ brokers, logLevel: 0 }).admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topics.AgentEvent);
    await admin.disconnect();
    expect(offsets.reduce((n, p) => n + Number(p.high), 0)).toBe(2500);
    const consumer = new Kafka({ brokers, logLevel: 0 }).consumer({ groupId: `t-${Date.now()}` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.AgentEvent, fromBeginning: true });
    const first = await new Promise<{ key: string; headers: Record<string, string>; head: string }>(
      (resolve) => {
        void consumer.run({
          eachMessage: async ({ message }) => {
            resolve({
              key: String(message.key),
              headers: Object.fromEntries(
                Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]),
              ),
              head: (message.value as Buffer).subarray(0, 10).toString('hex'),
            });
          },
        });
      },
    );
    await consumer.disconnect();
    const fingerprint = fingerprintBytes('AgentEvent').toString('hex');
    expect(first).toEqual({
      key: 'host-delivery',
      headers: { 'pidstream-type': 'agent', 'pidstream-schema-fingerprint': fingerprint },
      head: `c301${fingerprint}`,
    });
  });
});
