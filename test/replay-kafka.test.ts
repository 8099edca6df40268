import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { readStamp } from '../cli/replay/restamp.js';
import { distFile } from '../common/paths.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import type { ReadEvent } from '../streams/types.js';
import { hasProblems, StreamVerifier } from '../streams/verify.js';
import { kafkaBootstrap } from './support/kafka.js';

const run = promisify(execFile);

interface Counts {
  read: number;
  written: number;
  outOfRange: number;
}

async function pidstream(...args: string[]): Promise<Counts> {
  const { stderr } = await run('node', [distFile('cli/main.js'), ...args, '--summary', 'json']);
  return JSON.parse(stderr.trim().split('\n').pop() as string) as Counts;
}

async function readFiles(dir: string): Promise<ReadEvent[]> {
  const events: ReadEvent[] = [];
  for await (const e of new AvroFileSource(dir).events()) events.push(e);
  return events;
}

/** Each host's records in stream order, as hex: what per-host ordering must preserve. */
function byHost(events: readonly ReadEvent[]): Map<string, string[]> {
  const hosts = new Map<string, string[]>();
  for (const e of events) {
    const host = readStamp(e.bytes).host;
    hosts.set(host, [...(hosts.get(host) ?? []), e.bytes.toString('hex')]);
  }
  return hosts;
}

async function createTopic(topic: string, partitions: number): Promise<void> {
  const admin = new Kafka({ brokers: [kafkaBootstrap()], logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions }],
      waitForLeaders: true,
    });
  } finally {
    await admin.disconnect();
  }
}

describe('replay to and from the real Kafka broker', () => {
  let dir: string;
  let input: ReadEvent[];
  const topic = (label: string): string => `replay-${label}-${randomUUID().slice(0, 8)}`;
  const uri = (t: string): string => `kafka://${kafkaBootstrap()}/${t}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'replay-kafka-'));
    await pidstream(
      'synth',
      '--to',
      join(dir, 'in'),
      '--count',
      '2000',
      '--rate',
      '500/s',
      '--hosts',
      '6',
      '--seed',
      'kafka',
      '--speed',
      'max',
    );
    input = await readFiles(join(dir, 'in'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('through a 3-partition topic and back to files', () => {
    let back: ReadEvent[];
    let counts: Counts[];

    beforeAll(async () => {
      const t = topic('roundtrip');
      await createTopic(t, 3);
      counts = [
        await pidstream('replay', '--from', join(dir, 'in'), '--to', uri(t), '--speed', 'max'),
        await pidstream('replay', '--from', uri(t), '--to', join(dir, 'back'), '--speed', 'max'),
      ];
      back = await readFiles(join(dir, 'back'));
    });

    it('carries every record, byte for byte', () => {
      expect(counts[0]).toMatchObject({ written: 2012 });
      expect(counts[1]).toMatchObject({ read: 2012, written: 2012 });
      expect(back.map((e) => e.bytes.toString('hex')).sort()).toEqual(
        input.map((e) => e.bytes.toString('hex')).sort(),
      );
    });

    // Each host is one Kafka key, so one partition: its events must come back in their order.
    // Regression: the Kafka sink grouped a produce request by event type, which put a host's
    // Coredumps after its later ProcessExits when all types share one topic.
    it('keeps each host events in their order, so verify passes on what comes back', () => {
      expect(byHost(back)).toEqual(byHost(input));
      const verifier = new StreamVerifier();
      for (const e of back) verifier.add(e);
      expect(hasProblems(verifier.report(), false)).toBe(false);
    });
  });

  it('delivers through the rdkafka producer with --kafka-transport rdkafka', async () => {
    const t = topic('rdkafka');
    await createTopic(t, 3);
    const out = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      uri(t),
      '--speed',
      'max',
      '--kafka-transport',
      'rdkafka',
    );
    await pidstream('replay', '--from', uri(t), '--to', join(dir, 'rdkafka'), '--speed', 'max');
    expect(out).toMatchObject({ written: 2012 });
    expect(byHost(await readFiles(join(dir, 'rdkafka')))).toEqual(byHost(input));
  });

  it('refuses an unknown --kafka-transport, naming the flag, with exit 2', async () => {
    const failed = await run('node', [
      distFile('cli/main.js'),
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      uri('never'),
      '--kafka-transport',
      'carrier-pigeon',
    ]).catch((err: { code: number; stderr: string }) => err);
    expect(failed).toMatchObject({ code: 2 });
    expect((failed as { stderr: string }).stderr).toContain(
      "option '--kafka-transport <name>' argument 'carrier-pigeon' is invalid",
    );
  });

  it('starts reading a topic at the offset Kafka finds for --since', async () => {
    const t = topic('since');
    await createTopic(t, 1);
    const hostOf = (i: number): string => readStamp((input[i] as ReadEvent).bytes).host;
    const [first, second] = [hostOf(0), hostOf(1)];
    const early = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      uri(t),
      '--speed',
      'max',
      '--rewrite-time',
      'now',
      '--filter',
      `host == "${first}"`,
    );
    const mark = new Date(Date.now() + 1).toISOString();
    const late = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      uri(t),
      '--speed',
      'max',
      '--rewrite-time',
      'now',
      '--filter',
      `host == "${second}"`,
    );

    // The source starts at the first message produced at or after the mark: it reads none
    // of the earlier host's events rather than reading and dropping them.
    const since = await pidstream(
      'replay',
      '--from',
      uri(t),
      '--to',
      join(dir, 'since'),
      '--speed',
      'max',
      '--since',
      mark,
    );
    expect(since).toMatchObject({ read: late.written, written: late.written, outOfRange: 0 });
    expect(
      new Set((await readFiles(join(dir, 'since'))).map((e) => readStamp(e.bytes).host)),
    ).toEqual(new Set([second]));

    const offsets = await pidstream(
      'replay',
      '--from',
      uri(t),
      '--to',
      join(dir, 'offsets'),
      '--speed',
      'max',
      '--since',
      'offset:10',
      '--until',
      `offset:0=${early.written + 5}`,
    );
    expect(offsets).toMatchObject({
      written: early.written - 5,
      read: early.written + late.written,
    });
  });
});
