import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  agentEvents,
  type AgentRun,
  type EventRecord,
  exitsTagged,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';

describe('agent: run without root', () => {
  const tag = marker('unprivileged');
  let agent: AgentRun;
  let events: EventRecord[];

  beforeAll(async () => {
    agent = await startAgent([], { asNobody: true });
    // Without the proc connector only /proc rescans (every second) find new processes.
    await runToEnd('sh', ['-c', 'sleep 2.5; exit 5', tag]);
    expect(await agent.stop()).toBe(0);
    events = await readEvents(agent.outDir);
  }, 120_000);

  afterAll(() => agent?.cleanup());

  it('names the missing feature and the kernel version that brings it', () => {
    const degraded = agentEvents(events).filter((e) => e.kind === 'DEGRADED');
    const connector = degraded.find((e) => e.attributes.feature === 'proc connector');
    expect(connector?.attributes.since).toBe('2.6.15');
    expect(connector?.message).toBe(
      'proc connector (Linux 2.6.15) is not available: needs CAP_NET_ADMIN (run as root); ' +
        '/proc is rescanned every second instead, so processes that live less than that are not seen',
    );
  });

  it('still reports a process that lives past a rescan, with its exit code', () => {
    const found = exitsTagged(events, tag).filter((e) => e.comm === 'sh');
    expect(found).toHaveLength(1);
    expect(found[0]!.exit_code).toBe(5);
    expect(found[0]!.source).toBe('PIDFD');
    expect(found[0]!.discovery).toBe('SCAN');
  });
});
