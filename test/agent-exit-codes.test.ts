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

describe('agent: exit codes and signals', () => {
  const tag = marker('codes');
  let agent: AgentRun;
  let events: EventRecord[];
  const pids: Record<string, number> = {};

  beforeAll(async () => {
    agent = await startAgent();
    // Each child lives a moment after its exec so the agent reads its argv while it lives.
    for (const code of [0, 1, 255]) {
      const run = await runToEnd('sh', ['-c', `sleep 0.2; exit ${code}`, `${tag}-exit-${code}`]);
      pids[`exit-${code}`] = run.pid;
    }
    for (const signal of ['KILL', 'TERM']) {
      const run = await runToEnd('sh', ['-c', `sleep 0.2; kill -${signal} $$`, `${tag}-${signal}`]);
      pids[signal] = run.pid;
    }
    expect(await agent.stop()).toBe(0);
    events = await readEvents(agent.outDir);
  });

  afterAll(() => agent?.cleanup());

  function only(name: string): ReturnType<typeof exitsTagged>[number] {
    const found = exitsTagged(events, `${tag}-${name}`).filter((e) => e.comm === 'sh');
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  it.each([0, 1, 255])('reports exit code %i of a child', (code) => {
    const e = only(`exit-${code}`);
    expect(e.process.pid).toBe(pids[`exit-${code}`]);
    expect(e.exit_code).toBe(code);
    expect(e.wait_status).toBe(code << 8);
    expect(e.signal).toBeNull();
    expect(e.classification).toBe(code === 0 ? 'CLEAN' : 'ERROR');
    expect(e.source).toBe('PIDFD');
    expect(e.discovery).toBe('FORK');
    expect(e.exe).toBe('/usr/bin/dash');
    expect(e.argv).toEqual(['sh', '-c', `sleep 0.2; exit ${code}`, `${tag}-exit-${code}`]);
  });

  it('reports the signal when a child is killed by SIGKILL', () => {
    const e = only('KILL');
    expect(e.process.pid).toBe(pids.KILL);
    expect(e.wait_status).toBe(9);
    expect(e.signal).toBe(9);
    expect(e.signal_name).toBe('SIGKILL');
    expect(e.exit_code).toBeNull();
    expect(e.core_dumped).toBe(false);
    expect(e.classification).toBe('KILLED');
  });

  it('reports the signal when a child is killed by SIGTERM', () => {
    const e = only('TERM');
    expect(e.process.pid).toBe(pids.TERM);
    expect(e.signal).toBe(15);
    expect(e.signal_name).toBe('SIGTERM');
    expect(e.classification).toBe('KILLED');
  });

  it('brackets the stream with START at seq 0 and STOP last', () => {
    const [first, last] = agentEvents([events[0]!, events[events.length - 1]!]);
    expect(first?.kind).toBe('START');
    expect(first?.agent.seq).toBe(0);
    expect(last?.kind).toBe('STOP');
    expect(last?.agent.seq).toBe(events.length - 1);
  });
});
