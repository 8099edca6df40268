/**
 * `pidstream query` and `pidstream report` read a Kafka topic on the real test broker: a
 * fixed-seed synth fleet delivered through the agent's Kafka sink answers as it does from files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeAll, synthGenerator } from '../bench/query/dataset.js';
import { KafkaSink } from '../streams/kafka-sink.js';
import { runCli } from './support/cli.js';
import { kafkaBootstrap } from './support/kafka.js';
import { freshTopics } from './support/kafka-topics.js';

const START_US = Date.UTC(2026, 0, 1) * 1000;
const topics = freshTopics('query');
let spoolDir: string;
let exits: Record<string, unknown>[];

beforeAll(async () => {
  spoolDir = mkdtempSync(join(tmpdir(), 'pidstream-query-kafka-'));
  const events = [
    ...synthGenerator({
      seed: 'query-kafka',
      hosts: 3,
      count: 800,
      rate: 20,
      startUs: START_US,
    }).events(),
  ];
  const sink = await KafkaSink.open({ brokers: [kafkaBootstrap()], topics, spoolDir });
  try {
    await sink.write(events);
    await sink.flush();
  } finally {
    await sink.close();
  }
  exits = decodeAll(events)
    .filter((e) => e.name === 'ProcessExit')
    .map((e) => e.record);
}, 120_000);

afterAll(() => rmSync(spoolDir, { recursive: true, force: true }));

describe('pidstream query from Kafka', () => {
  it('loads every exit of the topic and counts them by classification', async () => {
    const result = await runCli([
      'query',
      '--from',
      `kafka://${kafkaBootstrap()}/${topics.ProcessExit}`,
      '--format',
      'csv',
      'SELECT classification, count(*) AS n FROM exits GROUP BY ALL ORDER BY classification',
    ]);

    expect(result.stderr).toBe('');
    const counts = new Map<string, number>();
    for (const r of exits) {
      const c = r.classification as string;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const order = ['CLEAN', 'ERROR', 'KILLED', 'CRASHED', 'OOM_KILLED', 'UNKNOWN'];
    const expected = order.filter((c) => counts.has(c)).map((c) => `${c},${counts.get(c)}`);
    expect(result.stdout).toBe(['classification,n', ...expected].join('\n') + '\n');
  });

  it('applies --until to event times while loading', async () => {
    const untilUs = START_US + 20e6;
    const until = new Date(untilUs / 1000).toISOString();
    const result = await runCli([
      'query',
      '--from',
      `kafka://${kafkaBootstrap()}/${topics.ProcessExit}`,
      '--until',
      until,
      '--format',
      'csv',
      'SELECT count(*) AS n FROM exits',
    ]);

    const expected = exits.filter((r) => (r.time as number) < untilUs).length;
    expect(expected).toBeGreaterThan(0);
    expect(expected).toBeLessThan(exits.length);
    expect(result.stdout).toBe(`n\n${expected}\n`);
  });
});
