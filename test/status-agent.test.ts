import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { startAgent } from './support/agent.js';

const run = promisify(execFile);

/** `pidstream status` as root, or as nobody:nogroup through setpriv. */
async function status(socket: string, asNobody: boolean) {
  const cli = [process.execPath, distFile('cli/main.js'), 'status', '--control-socket', socket];
  const argv = asNobody
    ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...cli]
    : cli;
  try {
    const { stdout, stderr } = await run(argv[0] as string, argv.slice(1));
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('status against a running agent', () => {
  it('answers root with live counters and refuses nobody, logging the refusal', async () => {
    // /run is searchable by everyone, so nobody reaches the socket and the agent decides.
    const socket = join('/run', `pidstream-test-${randomUUID()}.sock`);
    const agent = await startAgent([
      '--no-coredumps',
      '--metrics',
      'off',
      '--control-socket',
      socket,
    ]);
    try {
      while (!agent.stderr().includes('"msg":"status socket listening"')) await sleep(20);

      const root = await status(socket, false);
      expect(root.code).toBe(0);
      const lines = root.stdout.split('\n');
      expect(lines[0]).toMatch(/^pidstream \S+, pid \d+, instance [0-9a-f-]{36}$/);
      expect(lines[2]).toMatch(
        /^events {6}ProcessExit \d+ {2}Coredump \d+ {2}AgentEvent [1-9]\d*$/,
      );
      expect(lines[4]).toBe('losses      none');
      expect(lines[7]).toBe('metrics     off');

      const nobody = await status(socket, true);
      expect(nobody.code).toBe(1);
      expect(nobody.stderr).toBe(
        'pidstream: status: the agent refused: uid 65534 (gid 65534) is not allowed: ' +
          'the status socket answers root only\n',
      );
      while (!agent.stderr().includes('status peer refused')) await sleep(20);
      const refusal = agent
        .stderr()
        .split('\n')
        .find((l) => l.includes('status peer refused'));
      expect(JSON.parse(refusal as string)).toMatchObject({
        level: 40,
        component: 'control',
        peer: { uid: 65534, gid: 65534, groups: [] },
        msg: 'status peer refused: uid 65534 (gid 65534) is not allowed: the status socket answers root only',
      });
    } finally {
      expect(await agent.stop()).toBe(0);
      agent.cleanup();
    }
  });
});
