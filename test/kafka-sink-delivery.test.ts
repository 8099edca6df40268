import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Kafka } from 'kafkajs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { KafkaSink } from '../streams/kafka-sink.js';
import { KafkaSource } from '../streams/kafka-source.js';
import { KAFKA_TRANSPORTS } from '../streams/kafka-transport.js';
import { openSink } from '../streams/open.js';
import type { ReadEvent } from '../streams/types.js';
import { fingerprintBytes, readStamp, unframe } from '../streams/wire.js';
import { agentEvent, exitEvent } from './support/file-events.js';
import { consumeTopic, kafkaBootstrap } from './support/kafka.js';
import { notices, testSequencer } from './support/kafka-events.js';
import { freshTopics } from './support/kafka-topics.js';

let spoolDir: string;

beforeEach(() => {
  spoolDir = mkdtempSync(join(tmpdir(), 'pidstream-kafka-'));
});

afterEach(() => {
  rmSync(spoolDir, { recursive: true, force: true });
});

describe.each(KAFKA_TRANSPORTS)('Kafka sink over %s', (transport) => {
  it('delivers every event once, in order, keyed by host, with type and fingerprint headers', async () => {
    const brokers = [kafkaBootstrap()];
    const topics = freshTopics('delivery');
    const sink = await KafkaSink.open({ brokers, topics, spoolDir, transport });
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

describe.each(KAFKA_TRANSPORTS)(
  'Kafka sink over %s, every event type on one topic',
  (transport) => {
    // Regression: a produce request was grouped by event type, so with one topic for all types
    // kafkajs appended a host's AgentEvents to the partition after its later ProcessExits.
    it('delivers each host events in spool order, whatever their types', async () => {
      const topic = `one-topic-${randomUUID().slice(0, 8)}`;
      const sink = await KafkaSink.open({
        brokers: [kafkaBootstrap()],
        topics: { ProcessExit: topic, Coredump: topic, AgentEvent: topic },
        spoolDir,
        transport,
      });
      const hosts = ['host-a', 'host-b', 'host-c'].map((h) => testSequencer(h));
      const startUs = Date.now() * 1000 - 60_000_000;
      const events = Array.from({ length: 30 }, (_, i) => {
        const seq = hosts[i % 3] as ReturnType<typeof testSequencer>;
        return i % 2 === 0
          ? exitEvent(seq, startUs + i * 1000, 2000 + i)
          : agentEvent(seq, startUs + i * 1000, `n${i}`);
      });
      await sink.write(events);
      await sink.flush();
      await sink.close();

      const byHost = new Map<string, string[]>();
      for (const m of await consumeTopic(topic)) {
        const { record } = unframe(m.value, m.headers['pidstream-type'], `${topic}@${m.offset}`);
        const entry = `${m.headers['pidstream-type']}:${readStamp(record).seq}`;
        byHost.set(m.key, [...(byHost.get(m.key) ?? []), entry]);
      }
      const order = Object.fromEntries([...byHost].map(([host, list]) => [host, list.join(' ')]));
      const exitFirst =
        'exit:0 agent:1 exit:2 agent:3 exit:4 agent:5 exit:6 agent:7 exit:8 agent:9';
      const agentFirst =
        'agent:0 exit:1 agent:2 exit:3 agent:4 exit:5 agent:6 exit:7 agent:8 exit:9';
      expect(order).toEqual({ 'host-a': exitFirst, 'host-b': agentFirst, 'host-c': exitFirst });
    });
  },
);

describe.each(KAFKA_TRANSPORTS)('Kafka sink over %s with many batches in flight', (transport) => {
  it('delivers 15,060 events of three hosts each once, every host in sequence order', async () => {
    const topic = `many-${randomUUID().slice(0, 8)}`;
    const sink = await KafkaSink.open({
      brokers: [kafkaBootstrap()],
      topics: { ProcessExit: topic, Coredump: topic, AgentEvent: topic },
      spoolDir,
      spoolFsync: 'none',
      transport,
    });
    const hosts = ['host-a', 'host-b', 'host-c'].map((h) => testSequencer(h));
    for (let round = 0; round < 40; round++) {
      // Writes of 250 events, a host's runs interleaved with the others', as a replay makes.
      const events = hosts.flatMap((h) => notices(h, 250 / 2 + (round % 2)));
      await sink.write(events.slice(0, 250));
      await sink.write(events.slice(250));
    }
    await sink.flush();
    expect(sink.delivered).toBe(sink.spool.endOffset);
    await sink.close();

    const byHost = new Map<string, number[]>();
    for (const m of await consumeTopic(topic)) {
      const { record } = unframe(m.value, m.headers['pidstream-type'], `${topic}@${m.offset}`);
      byHost.set(m.key, [...(byHost.get(m.key) ?? []), readStamp(record).seq]);
    }
    const counts = hosts.map((h) => h.nextSeq);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(sink.delivered);
    expect(Object.fromEntries(byHost)).toEqual({
      'host-a': Array.from({ length: counts[0] as number }, (_, i) => i),
      'host-b': Array.from({ length: counts[1] as number }, (_, i) => i),
      'host-c': Array.from({ length: counts[2] as number }, (_, i) => i),
    });
  });
});

describe('kafka:// destination without a spool of its own', () => {
  // Regression: every replay or synth into Kafka left a spool directory in the temp directory.
  it('removes its throw-away spool when it closes with everything delivered', async () => {
    const topic = `tmp-spool-${randomUUID().slice(0, 8)}`;
    const sink = (await openSink(`kafka://${kafkaBootstrap()}/${topic}`)) as KafkaSink;
    const dir = sink.spool.dir;
    expect(existsSync(dir)).toBe(true);
    await sink.write(notices(testSequencer('host-tmp'), 10));
    await sink.close();
    expect(existsSync(dir)).toBe(false);
    expect((await consumeTopic(topic)).length).toBe(10);
  });

  it('keeps the throw-away spool, and says where, when events are left undelivered', async () => {
    const sink = (await openSink('kafka://127.0.0.1:39099/nowhere', {
      kafka: { closeTimeoutMs: 200 },
    })) as KafkaSink;
    const dir = sink.spool.dir;
    await sink.write(notices(testSequencer('host-tmp'), 3));
    await sink.close();
    expect(sink.spool.pending).toBe(3);
    expect(existsSync(dir)).toBe(true);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe('Kafka sink transport choice', () => {
  it('refuses an unknown transport, naming the ones there are', async () => {
    await expect(
      KafkaSink.open({
        brokers: [kafkaBootstrap()],
        spoolDir,
        transport: 'carrier-pigeon' as 'kafkajs',
      }),
    ).rejects.toThrow("kafka transport 'carrier-pigeon': expected one of kafkajs, rdkafka");
  });
});
