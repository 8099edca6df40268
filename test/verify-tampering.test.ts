import { Kafka, Partitioners } from 'kafkajs';
import { describe, expect, it } from 'vitest';

import type { StampedEvent } from '../ingest/sequencer.js';
import { singleObjectEncoder } from '../streams/wire.js';
import { runCli } from './support/cli.js';
import { kafkaBootstrap } from './support/kafka.js';
import { notices, testSequencer } from './support/kafka-events.js';
import { freshTopics } from './support/kafka-topics.js';

/** Produces the events as the agent frames them, straight through kafkajs. */
async function produce(topic: string, events: { name: StampedEvent['name']; bytes: Buffer }[]) {
  const encoder = singleObjectEncoder();
  const kafka = new Kafka({ brokers: [kafkaBootstrap()], logLevel: 0 });
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
  await producer.connect();
  await producer.send({
    topic,
    acks: -1,
    messages: events.map((e) => ({
      key: 'host-tamper',
      value: encoder.frame(e.name, e.bytes),
      headers: encoder.headers(e.name),
    })),
  });
  await producer.disconnect();
}

interface JsonReport {
  instances: { gaps: { from: number; to: number }[]; altered: { seq: number }[] }[];
  totals: Record<string, number>;
}

describe('pidstream verify on a Kafka topic', () => {
  it('exits 0 and reports nothing on an untouched stream', async () => {
    const topic = freshTopics('verify-clean').AgentEvent;
    await produce(topic, notices(testSequencer('host-tamper'), 20));

    const result = await runCli(['verify', '--from', `kafka://${kafkaBootstrap()}/${topic}`]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(
      '20 events read; missing 0, duplicates 0, conflicts 0, reordered 0, altered 0, undecodable 0',
    );
  });

  it('exits 1 and names a deleted event as a gap and a modified one as altered', async () => {
    const topic = freshTopics('verify-tamper').AgentEvent;
    const events = notices(testSequencer('host-tamper'), 20);
    const modified = Buffer.from((events[12] as StampedEvent).bytes);
    // The last byte of the body: a character of the NOTICE message.
    const last = modified.length - 3;
    modified.writeUInt8(modified.readUInt8(last) ^ 0x20, last);
    const tampered = events
      .filter((e) => e.seq !== 7)
      .map((e) => (e.seq === 12 ? { name: e.name, bytes: modified } : e));
    await produce(topic, tampered);

    const result = await runCli([
      'verify',
      '--json',
      '--from',
      `kafka://${kafkaBootstrap()}/${topic}`,
    ]);
    expect(result.code).toBe(1);
    const report = JSON.parse(result.stdout) as JsonReport;
    expect(report.instances[0]?.gaps).toEqual([{ from: 7, to: 7 }]);
    expect(report.instances[0]?.altered.map((p) => p.seq)).toEqual([12]);
    expect(report.totals).toEqual({
      missing: 1,
      duplicates: 0,
      conflicts: 0,
      reordered: 0,
      altered: 1,
      undecodable: 0,
    });
  });

  it('exits 2 on a source URI it cannot parse', async () => {
    const result = await runCli(['verify', '--from', 'kafka://no-port/topic']);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "pidstream: --from: broker 'no-port' in kafka://no-port/topic is not host:port\n",
    );
  });
});
