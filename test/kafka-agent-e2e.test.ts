import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventType } from '../schemas/index.js';
import { KAFKA_TRANSPORTS } from '../streams/kafka-transport.js';
import { fingerprintBytes, unframe } from '../streams/wire.js';
import { type AgentRun, marker, runToEnd, startAgent } from './support/agent.js';
import { runCli } from './support/cli.js';
import { type ConsumedMessage, consumeTopic, kafkaBootstrap } from './support/kafka.js';
import { freshTopics } from './support/kafka-topics.js';

type Decoded = Record<string, unknown> & { agent: { host: string; seq: number } };

function decode(message: ConsumedMessage, where: string): Decoded {
  const { name, record } = unframe(message.value, message.headers['pidstream-type'], where);
  return eventType(name).fromBuffer(record) as Decoded;
}

describe.each(KAFKA_TRANSPORTS)('agent delivering to Kafka over %s', (transport) => {
  const topics = freshTopics('e2e');
  const tag = marker('kafka-e2e');
  let agent: AgentRun;
  let exits: ConsumedMessage[];
  let agentEvents: ConsumedMessage[];
  const pids: Record<string, number> = {};

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
    for (const code of [0, 3]) {
      const run = await runToEnd('sh', ['-c', `sleep 0.2; exit ${code}`, `${tag}-${code}`]);
      pids[code] = run.pid;
    }
    const killed = await runToEnd('sh', ['-c', `sleep 0.2; kill -KILL $$`, `${tag}-kill`]);
    pids.kill = killed.pid;
    expect(await agent.stop()).toBe(0);
    exits = await consumeTopic(topics.ProcessExit);
    agentEvents = await consumeTopic(topics.AgentEvent);
  });

  afterAll(() => agent?.cleanup());

  function exitTagged(suffix: string): Decoded & Record<string, unknown> {
    const found = exits
      .map((m) => decode(m, `${topics.ProcessExit}/${m.partition}@${m.offset}`))
      .filter((e) => (e.argv as string[]).includes(`${tag}-${suffix}`) && e.comm === 'sh');
    expect(found).toHaveLength(1);
    return found[0] as Decoded;
  }

  it('writes each exit of a real process to the exits topic with its fields', () => {
    for (const code of [0, 3]) {
      const e = exitTagged(String(code));
      expect((e.process as { pid: number }).pid).toBe(pids[code]);
      expect(e.exit_code).toBe(code);
      expect(e.signal).toBeNull();
      expect(e.classification).toBe(code === 0 ? 'CLEAN' : 'ERROR');
      expect(e.argv).toEqual(['sh', '-c', `sleep 0.2; exit ${code}`, `${tag}-${code}`]);
    }
    const killed = exitTagged('kill');
    expect(killed.signal).toBe(9);
    expect(killed.signal_name).toBe('SIGKILL');
  });

  it('keys every message by host and names its type and schema fingerprint in headers', () => {
    const host = decode(exits[0] as ConsumedMessage, 'first exit').agent.host;
    expect(new Set(exits.map((m) => m.key))).toEqual(new Set([host]));
    expect(new Set(exits.map((m) => m.headers['pidstream-type']))).toEqual(new Set(['exit']));
    expect(new Set(exits.map((m) => m.headers['pidstream-schema-fingerprint']))).toEqual(
      new Set([fingerprintBytes('ProcessExit').toString('hex')]),
    );
    expect(new Set(exits.map((m) => m.partition)).size).toBe(1);
  });

  it('sends START first and STOP last to the agent topic', () => {
    const kinds = agentEvents.map((m, i) => decode(m, `agent ${i}`).kind);
    expect(kinds[0]).toBe('START');
    expect(kinds[kinds.length - 1]).toBe('STOP');
    expect(decode(agentEvents[0] as ConsumedMessage, 'start').agent.seq).toBe(0);
  });

  it('passes pidstream verify over the three topics', async () => {
    const base = `kafka://${kafkaBootstrap()}`;
    const result = await runCli([
      'verify',
      '--from',
      `${base}/${topics.ProcessExit}`,
      '--from',
      `${base}/${topics.Coredump}`,
      '--from',
      `${base}/${topics.AgentEvent}`,
    ]);
    expect(result.stdout).toMatch(/missing 0, duplicates 0, conflicts 0, reordered 0, altered 0/);
    expect(result.code).toBe(0);
  });
});
