import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventType } from '../schemas/index.js';
import { KAFKA_TRANSPORTS } from '../streams/kafka-transport.js';
import { unframe } from '../streams/wire.js';
import { type AgentRun, marker, runToEnd, startAgent } from './support/agent.js';
import { runCli } from './support/cli.js';
import { consumeTopic, kafkaBootstrap } from './support/kafka.js';
import { freshTopics } from './support/kafka-topics.js';
import { spoolMentions, waitFor } from './support/spool-files.js';

/** Nothing listens here: the first agent cannot deliver and keeps everything in its spool. */
const DEAD_BROKER = '127.0.0.1:39099';
const CHILDREN = 20;

type Exit = { agent: { instance_id: string; seq: number }; argv: string[]; comm: string };

describe.each(KAFKA_TRANSPORTS)('agent over %s killed with events in its spool', (transport) => {
  const topics = freshTopics('sigkill');
  const tag = marker('sigkill');
  const spool = mkdtempSync(join(tmpdir(), 'pidstream-spool-'));
  const topicFlags = [
    '--topic-exits',
    topics.ProcessExit,
    '--topic-coredumps',
    topics.Coredump,
    '--topic-agent',
    topics.AgentEvent,
  ];
  let second: AgentRun | undefined;
  let first: AgentRun | undefined;
  let exits: Exit[];

  beforeAll(async () => {
    first = await startAgent([
      '--kafka-transport',
      transport,
      '--kafka',
      DEAD_BROKER,
      '--spool',
      spool,
      ...topicFlags,
    ]);
    for (let i = 0; i < CHILDREN; i++) {
      await runToEnd('sh', ['-c', 'sleep 0.05', `${tag}-before-${i}`]);
    }
    // Every child's exit is in the spool (its argv carries the tag) before the kill.
    await waitFor(
      'the exits in the spool',
      () => spoolMentions(spool, `${tag}-before-`) >= CHILDREN,
    );
    first.child.kill('SIGKILL');
    await new Promise((resolve) => first?.child.once('exit', resolve));

    second = await startAgent([
      '--kafka-transport',
      transport,
      '--kafka',
      kafkaBootstrap(),
      '--spool',
      spool,
      ...topicFlags,
    ]);
    await runToEnd('sh', ['-c', 'sleep 0.05', `${tag}-after`]);
    await waitFor(
      'the second agent to spool its exit',
      () => spoolMentions(spool, `${tag}-after`) >= 1,
    );
    expect(await second.stop()).toBe(0);
    exits = (await consumeTopic(topics.ProcessExit)).map((m) => {
      const { name, record } = unframe(m.value, m.headers['pidstream-type'], 'exit');
      return eventType(name).fromBuffer(record) as Exit;
    });
  });

  afterAll(() => {
    first?.cleanup();
    second?.cleanup();
    rmSync(spool, { recursive: true, force: true });
  });

  it('delivers every exit the killed agent had spooled, after the restart', () => {
    for (let i = 0; i < CHILDREN; i++) {
      const found = exits.filter((e) => e.comm === 'sh' && e.argv.includes(`${tag}-before-${i}`));
      expect(found.length, `${tag}-before-${i}`).toBeGreaterThanOrEqual(1);
    }
    const after = exits.filter((e) => e.comm === 'sh' && e.argv.includes(`${tag}-after`));
    expect(after).toHaveLength(1);
  });

  it('delivers the killed agent’s events before the new agent’s', () => {
    const instances = exits.map((e) => e.agent.instance_id);
    const killedInstance = exits.find((e) => e.argv.includes(`${tag}-before-0`))?.agent.instance_id;
    expect(instances.lastIndexOf(killedInstance as string)).toBeLessThan(
      instances.findIndex((i) => i !== killedInstance),
    );
  });

  it('leaves a stream that verify passes: both instances whole from seq 0', async () => {
    const base = `kafka://${kafkaBootstrap()}`;
    const result = await runCli([
      'verify',
      '--json',
      '--from',
      `${base}/${topics.ProcessExit}`,
      '--from',
      `${base}/${topics.AgentEvent}`,
    ]);
    const report = JSON.parse(result.stdout) as {
      instances: { firstSeq: number; missing: number }[];
    };
    expect(report.instances.map((i) => [i.firstSeq, i.missing])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    expect(result.code).toBe(0);
  });
});
