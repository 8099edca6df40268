import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { findCgroup2Mount } from '../workers/cgroup-index.js';
import { readCorePattern, withCorePattern } from './support/core-pattern.js';

function doctor(args: string[]): ReturnType<typeof spawnSync> & { stdout: string } {
  return spawnSync(process.execPath, [distFile('cli/main.js'), 'doctor', ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
}

/** The doctor changes core_pattern for a few milliseconds to probe the @@ socket form. */
async function doctorHoldingCorePattern(args: string[]) {
  return withCorePattern(async (original) => {
    const run = doctor(args);
    expect(readCorePattern()).toBe(original);
    return { run, original };
  });
}

/**
 * When an agent holds core_pattern (another suite's, or one running on this machine), the
 * doctor leaves it alone and takes the kernel's acceptance of its `@@` pattern as the evidence.
 */
function expectedCoreLines(original: string): { owner: string; socketLines: string[] } {
  if (original.startsWith('@@')) {
    const mine = original === '@@/run/pidstream/coredump.sock';
    return {
      owner: mine ? 'pidstream' : 'another socket server',
      socketLines: [
        'ok       core_pattern @socket    Linux 6.16    core_pattern holds a socket form now',
        'ok       core_pattern @@socket   Linux 6.17    core_pattern holds an @@ socket now',
      ],
    };
  }
  return {
    owner: original.startsWith('|') ? 'another pipe helper' : 'a file',
    socketLines: [
      'ok       core_pattern @socket    Linux 6.16    core_modes lists socket',
      'ok       core_pattern @@socket   Linux 6.17    a crashing child sent coredump_req and took a REJECT ack',
    ],
  };
}

// The core_pattern lock waits up to 300 s for another suite that holds it.
describe('doctor on this host (Linux 6.18, root)', { timeout: 400_000 }, () => {
  it('reports every capability present with the kernel that brings it, and exits 0', async () => {
    const { run, original } = await doctorHoldingCorePattern([]);
    const { owner, socketLines } = expectedCoreLines(original);
    const lines = run.stdout.split('\n');
    expect(lines.slice(2, 16)).toEqual([
      'ok       pidfd_open              Linux 5.3     opened a pidfd on a live child',
      'ok       pidfs inodes            Linux 6.9     two processes have distinct pidfd inodes',
      'ok       EPOLLHUP on reap        Linux 6.9     EPOLLHUP on the pidfd of a reaped child',
      'ok       PIDFD_GET_INFO          Linux 6.13    pid, credentials and cgroup id of a live child',
      'ok       PIDFD_INFO_EXIT         Linux 6.15    wait status of a reaped child (SIGKILL)',
      'ok       PIDFD_INFO_COREDUMP     Linux 6.16    coredump_mask of a reaped child',
      ...socketLines,
      'ok       SO_PEERPIDFD            Linux 6.5     a pidfd for the peer of a local connection',
      'ok       proc connector          Linux 2.6.15  the exit notice of a child arrived',
      'ok       listmount/statmount     Linux 6.8     listed the mounts and read one with statmount',
      'ok       cgroup2 mount           Linux 4.5     mounted, and /proc/self/cgroup has its 0:: line',
      'ok       privileges                            root, with CAP_NET_ADMIN CAP_SYS_PTRACE CAP_SYS_ADMIN',
      `info     core_pattern owner                    ${owner}: ${original}`,
    ]);
    expect(lines).toContain(
      '    crash capture   core_pattern @@/run/pidstream/coredump.sock: ' +
        'the policy answers each coredump_req before any core is sent',
    );
    expect(lines).toContain(`    cgroup paths    resolved under ${findCgroup2Mount()}`);
    expect(lines.filter((l) => l.startsWith('  !'))).toEqual([]);
    expect(lines.at(-2)).toBe('support: full (exit 0)');
    expect(run.status).toBe(0);
  });

  it('gives the same verdicts as JSON', async () => {
    const { run } = await doctorHoldingCorePattern(['--json']);
    const report = JSON.parse(run.stdout) as {
      capabilities: { id: string; verdict: string }[];
      support: string;
      exitCode: number;
    };
    expect(report.capabilities.filter((c) => c.verdict !== 'ok')).toEqual([]);
    expect(report.capabilities).toHaveLength(12);
    expect(report.support).toBe('full');
    expect(report.exitCode).toBe(0);
    expect(run.status).toBe(0);
  });
});
