import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import pino from 'pino';
import { afterAll, describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { buildSnapshot, ControlServer } from '../ingest/control.js';
import { emptyStats } from '../ingest/stats.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'pidstream-status-'));
// nobody must be able to reach the socket for the agent to see (and refuse) it.
chmodSync(dir, 0o755);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface LogLine {
  level: number;
  msg: string;
  peer?: { pid: number; uid: number; gid: number };
}

function server(
  name: string,
  group: string,
): { server: ControlServer; logs: LogLine[]; path: string } {
  const logs: LogLine[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) });
  const stats = emptyStats();
  stats.events.ProcessExit = 12;
  stats.watched = 5;
  const path = join(dir, name);
  const s = new ControlServer({
    socketPath: path,
    group,
    log,
    snapshot: () =>
      buildSnapshot({
        version: '0.1.0',
        instanceId: '00000000-0000-4000-8000-000000000000',
        startedAtMs: Date.now() - 3000,
        stats,
        metricsUrl: null,
      }),
  });
  s.start();
  return { server: s, logs, path };
}

/** Runs `pidstream status` as root, or as nobody:nogroup through setpriv. */
async function status(path: string, asNobody: boolean, extra: string[] = []) {
  const cli = [
    process.execPath,
    distFile('cli/main.js'),
    'status',
    '--control-socket',
    path,
    ...extra,
  ];
  const argv = asNobody
    ? ['setpriv', '--reuid=nobody', '--regid=nogroup', '--clear-groups', ...cli]
    : cli;
  try {
    const { stdout, stderr } = await run(argv[0] as string, argv.slice(1), {
      env: { PATH: process.env.PATH ?? '' },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('status over the control socket', () => {
  it('answers root with the live counters', async () => {
    const { server: s, path } = server('root.sock', '');
    try {
      const got = await status(path, false, ['--json']);
      expect(got.code).toBe(0);
      const reply = JSON.parse(got.stdout) as {
        stats: { events: Record<string, number>; watched: number };
      };
      expect(reply.stats.events.ProcessExit).toBe(12);
      expect(reply.stats.watched).toBe(5);
      const text = await status(path, false);
      expect(text.stdout.split('\n')).toContain(
        'events      ProcessExit 12  Coredump 0  AgentEvent 0',
      );
      expect(s.counts).toEqual({ answered: 2, refused: 0 });
    } finally {
      await s.stop();
    }
  });

  it('refuses nobody with a clear message, exit 1, and logs the refusal', async () => {
    const { server: s, logs, path } = server('nobody.sock', '');
    try {
      const got = await status(path, true);
      expect(got.code).toBe(1);
      expect(got.stdout).toBe('');
      expect(got.stderr).toBe(
        'pidstream: status: the agent refused: uid 65534 (gid 65534) is not allowed: ' +
          'the status socket answers root only\n',
      );
      const refusal = logs.find((l) => l.msg.startsWith('status peer refused'));
      expect(refusal).toMatchObject({
        level: 40,
        msg: 'status peer refused: uid 65534 (gid 65534) is not allowed: the status socket answers root only',
        peer: { uid: 65534, gid: 65534 },
      });
      expect(s.counts).toEqual({ answered: 0, refused: 1 });
    } finally {
      await s.stop();
    }
  });

  it('answers a member of the configured group', async () => {
    const { server: s, path } = server('group.sock', 'nogroup');
    try {
      const got = await status(path, true, ['--json']);
      expect(got.code).toBe(0);
      expect(s.counts).toEqual({ answered: 1, refused: 0 });
    } finally {
      await s.stop();
    }
  });

  it('says so when no agent listens', async () => {
    const got = await status(join(dir, 'absent.sock'), false);
    expect(got.code).toBe(1);
    expect(got.stderr).toBe(
      `pidstream: status: ${join(dir, 'absent.sock')}: no agent answers here (ENOENT)\n`,
    );
  });
});
