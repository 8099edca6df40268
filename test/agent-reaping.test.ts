import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type AgentRun,
  type EventRecord,
  exitsTagged,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';

const ZOMBIE_TIMEOUT_S = 1;

const SUBREAPER = `
import ctypes, os, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)
subprocess.run(['sh', '-c', '(sleep 0.5; exit 42) & exit 0', sys.argv[1]])
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
`;

describe('agent: exits reaped by another parent, or not reaped at all', () => {
  const tag = marker('reaping');
  let agent: AgentRun;
  let events: EventRecord[];
  let zombieParent: number;

  beforeAll(async () => {
    agent = await startAgent(['--zombie-timeout', `${ZOMBIE_TIMEOUT_S}s`]);
    // The subshell outlives its parent sh and is reaped by the python process above it, a
    // child subreaper (prctl PR_SET_CHILD_SUBREAPER = 36) that waits for every descendant.
    await runToEnd('/usr/bin/python3', ['-c', SUBREAPER, `${tag}-orphan`]);
    // The child exits at once; its parent sleeps three bounds without reaping it, then exits,
    // and init reaps the zombie: that reap must not produce a second event.
    const run = await runToEnd('/usr/bin/python3', [
      '-c',
      'import os, sys, time\nif os.fork() == 0:\n    os._exit(7)\ntime.sleep(3)',
      `${tag}-zombie`,
    ]);
    zombieParent = run.pid;
    expect(await agent.stop()).toBe(0);
    events = await readEvents(agent.outDir);
  }, 120_000);

  afterAll(() => agent?.cleanup());

  it('reports exit info via PIDFD_INFO_EXIT for a grandchild reaped by another parent', () => {
    const orphan = exitsTagged(events, `${tag}-orphan`).filter((e) => e.exit_code === 42);
    expect(orphan).toHaveLength(1);
    expect(orphan[0]!.source).toBe('PIDFD');
    expect(orphan[0]!.wait_status).toBe(42 << 8);
    expect(orphan[0]!.unreaped).toBe(false);
  });

  it('reports an unreaped zombie once, after the bound, with the connector status', () => {
    const children = exitsTagged(events, `${tag}-zombie`).filter(
      (e) => e.ppid === zombieParent && e.comm === 'python3',
    );
    expect(children).toHaveLength(1);
    const zombie = children[0]!;
    expect(zombie.source).toBe('ZOMBIE_TIMEOUT');
    expect(zombie.unreaped).toBe(true);
    expect(zombie.exit_code).toBe(7);
    expect(zombie.classification).toBe('ERROR');
  });
});
