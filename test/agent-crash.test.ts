import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { withCorePattern, writeCorePattern } from './support/core-pattern.js';
import {
  type AgentRun,
  type ExitEvent,
  exitsTagged,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';

describe('agent: a crash with cores allowed', () => {
  const tag = marker('segv');
  const cwd = mkdtempSync(join(tmpdir(), 'pidstream-segv-'));
  let agent: AgentRun;
  let crash: ExitEvent;
  let pid: number;
  let cores: string[];

  beforeAll(async () => {
    agent = await startAgent();
    // The plain pattern `core` writes the core as ./core in the crashing process's directory.
    await withCorePattern(async () => {
      writeCorePattern('core');
      const run = await runToEnd(
        'sh',
        ['-c', 'ulimit -c unlimited; sleep 0.2; kill -SEGV $$', tag],
        {
          cwd,
        },
      );
      pid = run.pid;
    });
    cores = readdirSync(cwd);
    expect(await agent.stop()).toBe(0);
    const found = exitsTagged(await readEvents(agent.outDir), tag).filter((e) => e.comm === 'sh');
    expect(found).toHaveLength(1);
    crash = found[0]!;
  });

  afterAll(() => {
    agent?.cleanup();
    rmSync(cwd, { recursive: true, force: true });
  });

  it('sets the core-dumped flag and classifies the exit as CRASHED', () => {
    expect(cores).toEqual(['core']);
    expect(crash.process.pid).toBe(pid);
    expect(crash.signal).toBe(11);
    expect(crash.signal_name).toBe('SIGSEGV');
    expect(crash.core_dumped).toBe(true);
    expect(crash.wait_status).toBe(11 | 0x80);
    expect(crash.classification).toBe('CRASHED');
  });

  it('reports the coredump mask PIDFD_INFO_COREDUMP gives for a core written to a file', () => {
    // Measured on Linux 6.18: the kernel fills coredump_mask only for cores it hands to a
    // coredump socket; a core written by the file pattern `core` leaves it 0, and the
    // core-dumped flag comes from the wait status alone.
    expect(crash.source).toBe('PIDFD');
    expect(crash.coredump_mask).toBe(0);
  });
});
