import { mkdirSync, rmdirSync } from 'node:fs';

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

const CGROUP2 = '/sys/fs/cgroup/unified';
const NOBODY_UID = 65534;

describe('agent: cgroup and user of a process', () => {
  const tag = marker('identity');
  const cgroupName = `pidstream-test-${process.pid}`;
  let agent: AgentRun;
  let events: EventRecord[];

  beforeAll(async () => {
    mkdirSync(`${CGROUP2}/${cgroupName}`);
    agent = await startAgent();
    await runToEnd('sh', [
      '-c',
      `echo $$ > ${CGROUP2}/${cgroupName}/cgroup.procs; exec sh -c 'sleep 0.2; exit 0' ${tag}-cg`,
    ]);
    await runToEnd('setpriv', [
      '--reuid=nobody',
      '--regid=nogroup',
      '--clear-groups',
      'sh',
      '-c',
      'sleep 0.2; exit 0',
      `${tag}-nobody`,
    ]);
    expect(await agent.stop()).toBe(0);
    events = await readEvents(agent.outDir);
  });

  afterAll(() => {
    agent?.cleanup();
    rmdirSync(`${CGROUP2}/${cgroupName}`);
  });

  function only(name: string): ExitEvent {
    const found = exitsTagged(events, `${tag}-${name}`).filter((e) => e.comm === 'sh');
    expect(found).toHaveLength(1);
    return found[0]!;
  }

  it('names the cgroup2 path of a process in a cgroup the test created', () => {
    const e = only('cg');
    expect(e.cgroup.path).toBe(`/${cgroupName}`);
    expect(e.cgroup.id).toBeGreaterThan(0);
  });

  it('names the user of a process run as nobody', () => {
    const e = only('nobody');
    expect(e.credentials?.ruid).toBe(NOBODY_UID);
    expect(e.credentials?.euid).toBe(NOBODY_UID);
    expect(e.user).toBe('nobody');
  });
});
