import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distFile, packageRoot } from '../common/paths.js';
import { withCorePattern } from './support/core-pattern.js';

/**
 * The systemd unit runs root bounded to CapabilityBoundingSet. These tests run the real code
 * as root under exactly that set (setpriv --bounding-set), and under the set minus each
 * capability, to show each one is needed and that nothing outside the set is.
 */
const unitCaps = (
  /^CapabilityBoundingSet=(.*)$/m.exec(
    readFileSync(join(packageRoot(), 'deploy/systemd/pidstream.service'), 'utf8'),
  )?.[1] ?? ''
)
  .split(' ')
  .map((c) => c.replace(/^CAP_/, '').toLowerCase());

function bounded(caps: string[], argv: string[]) {
  const set = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return spawnSync('setpriv', [`--bounding-set=${set}`, '--inh-caps=-all', ...argv], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
  });
}

const without = (cap: string): string[] => unitCaps.filter((c) => c !== cap);

const doctor = (caps: string[], args: string[] = []) =>
  bounded(caps, [process.execPath, distFile('cli/main.js'), 'doctor', ...args]);

/** Mount identity of `pid` through the agent's own bindings, as the agent reads it. */
function rootMountOf(caps: string[], pid: number) {
  const script = `
    import { processRootMount } from '${distFile('native/mount.js')}';
    import { pidfdOpen } from '${distFile('native/pidfd.js')}';
    try { console.log(processRootMount(${pid}, pidfdOpen(${pid})).fsType); }
    catch (err) { console.log(err.message); }`;
  return bounded(caps, [process.execPath, '--input-type=module', '-e', script]).stdout.trim();
}

let inOtherMountNs: ChildProcess;
let ofNobody: ChildProcess;

beforeAll(async () => {
  inOtherMountNs = spawn('unshare', ['--mount', 'sleep', '120'], { stdio: 'ignore' });
  ofNobody = spawn(
    'setpriv',
    ['--reuid=nobody', '--regid=nogroup', '--clear-groups', 'sleep', '120'],
    {
      stdio: 'ignore',
    },
  );
  // unshare and setpriv exec sleep in place: wait until the pids run sleep.
  for (const child of [inOtherMountNs, ofNobody]) {
    while (readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim() !== 'sleep') await sleep(10);
  }
});
afterAll(() => {
  inOtherMountNs.kill('SIGKILL');
  ofNobody.kill('SIGKILL');
});

// The core_pattern lock waits up to 300 s for another suite that holds it.
describe('the systemd unit capability set', { timeout: 400_000 }, () => {
  it('names CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_SYS_ADMIN only', () => {
    expect(unitCaps).toEqual(['net_admin', 'sys_ptrace', 'sys_admin']);
  });

  it('is enough for every doctor probe, including core_pattern, without CAP_DAC_*', async () => {
    const run = await withCorePattern(async () => doctor(unitCaps));
    expect(run.stdout.split('\n')).toContain(
      'ok       privileges                            root, with CAP_NET_ADMIN CAP_SYS_PTRACE CAP_SYS_ADMIN',
    );
    expect(run.stdout).not.toMatch(/^missing/m);
    expect(run.status).toBe(0);
  });

  it('needs CAP_NET_ADMIN: without it the proc connector refuses its receive buffer', () => {
    const run = doctor(without('net_admin'), ['--no-core-probe']);
    expect(run.stdout).toMatch(
      /^missing {2}proc connector {10}Linux 2\.6\.15 {2}setsockopt\(\d+, SO_RCVBUFFORCE\): EPERM$/m,
    );
    expect(run.status).toBe(3);
  });

  it('needs CAP_SYS_ADMIN: without it statmount of another mount namespace is refused', () => {
    expect(rootMountOf(unitCaps, inOtherMountNs.pid as number)).toMatch(/^[a-z0-9]+$/);
    expect(rootMountOf(without('sys_admin'), inOtherMountNs.pid as number)).toMatch(
      /^statmount\(\d+, ns \d+\): EPERM$/,
    );
  });

  it("needs CAP_SYS_PTRACE: without it another user's exe and mount namespace are hidden", () => {
    const exe = `/proc/${ofNobody.pid}/exe`;
    expect(bounded(unitCaps, ['readlink', exe]).stdout).toBe('/usr/bin/sleep\n');
    expect(bounded(without('sys_ptrace'), ['readlink', exe]).status).toBe(1);
    expect(rootMountOf(without('sys_ptrace'), ofNobody.pid as number)).toMatch(
      /^ioctl\(\d+, PIDFD_GET_MNT_NAMESPACE\): EACCES$/,
    );
  });
});
