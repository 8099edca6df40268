import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type AgentRun,
  type EventRecord,
  type ExitEvent,
  exitsTagged,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';

/** This host keeps the memory controller on cgroup v1 (its cgroup2 has no controllers). */
const MEMCG_V1 = '/sys/fs/cgroup/memory';
const LIMIT_BYTES = 64 * 1024 * 1024;
/** Sleeps so the agent reads its cgroup at exec, then writes 512 MiB: far past the limit. */
const HOG = 'import time; time.sleep(0.3); x = "x" * (512 << 20)';

describe('agent: OOM kills', () => {
  const tag = marker('oom');
  const cgroup = `${MEMCG_V1}/pidstream-test-${process.pid}`;
  let agent: AgentRun;
  let events: EventRecord[];

  function inCgroup(script: string, name: string): Promise<unknown> {
    const tagged = `${script} ${tag}-${name}`;
    return runToEnd('sh', ['-c', `echo $$ > ${cgroup}/cgroup.procs; exec ${tagged}`]);
  }

  beforeAll(async () => {
    mkdirSync(cgroup);
    writeFileSync(`${cgroup}/memory.limit_in_bytes`, String(LIMIT_BYTES));
    agent = await startAgent();
    await inCgroup(`/usr/bin/python3 -c '${HOG}'`, 'first');
    await inCgroup(`/usr/bin/python3 -c '${HOG}'`, 'second');
    await inCgroup(`sh -c 'sleep 0.3; kill -9 $$'`, 'plain-kill');
    expect(await agent.stop()).toBe(0);
    events = await readEvents(agent.outDir);
  }, 120_000);

  afterAll(() => {
    agent?.cleanup();
    rmdirSync(cgroup);
  });

  function only(name: string): ExitEvent {
    const found = exitsTagged(events, `${tag}-${name}`).filter((e) => e.signal === 9);
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  it('classifies two OOM kills in one memory cgroup as OOM_KILLED', () => {
    for (const name of ['first', 'second']) {
      const e = only(name);
      expect(e.comm).toBe('python3');
      expect(e.classification).toBe('OOM_KILLED');
    }
  });

  it('classifies a plain SIGKILL in the same cgroup afterwards as KILLED', () => {
    expect(only('plain-kill').classification).toBe('KILLED');
  });
});
