import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventType } from '../schemas/index.js';
import { KAFKA_TRANSPORTS } from '../streams/kafka-transport.js';
import { unframe } from '../streams/wire.js';
import { type AgentRun, marker, startAgent } from './support/agent.js';
import { runCli } from './support/cli.js';
import {
  brokerRunning,
  consumeTopic,
  kafkaBootstrap,
  startBroker,
  stopBroker,
} from './support/kafka.js';
import { freshTopics } from './support/kafka-topics.js';
import { waitFor } from './support/spool-files.js';

const OUTAGE_MS = 30_000;
const STEADY_MS = 3_000;

type Decoded = {
  agent: { boot_id: string; instance_id: string; seq: number };
  time: number;
  kind?: string;
  argv?: string[];
  comm?: string;
  process?: { pid: number; start_time: number | null };
};

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function eventsIn(topic: string): Promise<Decoded[]> {
  return (await consumeTopic(topic)).map((m) => {
    const { name, record } = unframe(m.value, m.headers['pidstream-type'], topic);
    return eventType(name).fromBuffer(record) as Decoded;
  });
}

function idOf(e: Decoded): string {
  return `${e.agent.boot_id}/${e.agent.instance_id}/${e.agent.seq}`;
}

/**
 * The agent records every exit on the host, and on this shared machine other suites may make
 * it drop some (a proc connector overflow, recorded as a LOSS event). Delivery is judged on
 * what the agent stamped: every sequence number from START to STOP arrives.
 */
describe.each(KAFKA_TRANSPORTS)('broker outage during a steady stream, over %s', (transport) => {
  const topics = freshTopics('outage');
  const tag = marker('outage');
  const work = mkdtempSync(join(tmpdir(), 'pidstream-outage-'));
  const stopFile = join(work, 'stop');
  let agent: AgentRun;
  let events: Decoded[];
  let outage: { from: number; to: number };

  beforeAll(async () => {
    agent = await startAgent([
      '--kafka-transport',
      transport,
      '--kafka',
      kafkaBootstrap(),
      '--topic-exits',
      topics.ProcessExit,
      '--topic-coredumps',
      topics.Coredump,
      '--topic-agent',
      topics.AgentEvent,
    ]);
    // About 15 exits a second until told to stop; each names its number in its argv.
    const loop = spawn(
      'sh',
      [
        '-c',
        `i=0; while [ ! -e ${stopFile} ]; do i=$((i+1)); sh -c 'sleep 0.02' ${tag}-$i; ` +
          'sleep 0.05; done',
      ],
      { stdio: 'ignore' },
    );
    const loopDone = new Promise((resolve) => loop.once('exit', resolve));

    await sleep(STEADY_MS);
    await stopBroker();
    const from = Date.now() * 1000;
    await sleep(OUTAGE_MS);
    const to = Date.now() * 1000;
    await startBroker();
    outage = { from, to };
    await waitFor('the agent to reach Kafka again', () =>
      agent.stderr().includes('kafka reachable again'),
    );
    await sleep(STEADY_MS);
    writeFileSync(stopFile, '');
    await loopDone;
    // A clean stop drains the spool before it closes the sink.
    expect(await agent.stop()).toBe(0);
    events = [];
    for (const topic of Object.values(topics)) events.push(...(await eventsIn(topic)));
  }, 400_000);

  afterAll(async () => {
    agent?.cleanup();
    rmSync(work, { recursive: true, force: true });
    if (!brokerRunning()) await startBroker();
  });

  it('delivers every event from START to STOP after dedupe by event id', () => {
    const mine = events.filter((e) => e.agent.instance_id === events[0]?.agent.instance_id);
    const unique = new Map(mine.map((e) => [idOf(e), e]));
    const stop = [...unique.values()].find((e) => e.kind === 'STOP') as Decoded;
    expect(stop).toBeDefined();
    const seqs = [...unique.values()].map((e) => e.agent.seq).sort((a, b) => a - b);
    expect(seqs).toEqual(Array.from({ length: stop.agent.seq + 1 }, (_, i) => i));
  });

  it('delivers the exits that happened while the broker was down, each once', () => {
    const unique = new Map(events.map((e) => [idOf(e), e]));
    const tagged = [...unique.values()].filter(
      (e) => e.comm === 'sh' && e.argv?.some((a) => a.startsWith(`${tag}-`)),
    );
    // One process, one event: no process shows up again under another event id. (A tagged
    // number may name two processes: dash sometimes forks before running `sleep`.)
    const processes = tagged.map((e) => `${e.process?.pid}@${e.process?.start_time}`);
    expect(new Set(processes).size).toBe(processes.length);
    const during = tagged.filter((e) => e.time > outage.from && e.time < outage.to);
    // 30 s at about 15 a second; a busy machine slows the loop, never to a stop.
    expect(during.length).toBeGreaterThan(50);
  });

  it('passes verify over the topics, duplicates from resends allowed', async () => {
    const base = `kafka://${kafkaBootstrap()}`;
    const result = await runCli([
      'verify',
      '--allow-duplicates',
      '--from',
      `${base}/${topics.ProcessExit}`,
      '--from',
      `${base}/${topics.Coredump}`,
      '--from',
      `${base}/${topics.AgentEvent}`,
    ]);
    expect(result.stdout).toMatch(/missing 0, duplicates \d+, conflicts 0, reordered 0, altered 0/);
    expect(result.code).toBe(0);
  });
});
