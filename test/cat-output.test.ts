import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { eventDigest } from '../ingest/sequencer.js';
import { distFile } from '../common/paths.js';
import { AvroFileSink } from '../streams/avro-file-sink.js';
import {
  mixedEvents,
  agentEvent,
  BOOT_ID,
  exitEvent,
  HOST,
  INSTANCE_ID,
  sequencer,
  T0,
} from './support/file-events.js';

const dir = mkdtempSync(join(tmpdir(), 'pidstream-cat-'));
let digestOfFirst = '';

beforeAll(async () => {
  const seq = sequencer();
  const first = exitEvent(seq, T0, 4242);
  digestOfFirst = eventDigest(first.bytes).toString('hex');
  const sink = new AvroFileSink({ dir });
  await sink.write([first, agentEvent(seq, T0 + 1, 'hello')]);
  await sink.close();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function cat(...args: string[]) {
  const run = spawnSync(process.execPath, [distFile('cli/main.js'), 'cat', ...args], {
    encoding: 'utf8',
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

const EXIT_LINE = {
  type: 'exit',
  agent: {
    host: HOST,
    boot_id: BOOT_ID,
    instance_id: INSTANCE_ID,
    seq: 0,
    prev_digest: '00'.repeat(32),
  },
  time: '2026-12-03T19:26:26.123456Z',
  process: {
    boot_id: BOOT_ID,
    pidfs_ino: 77001,
    pid: 4242,
    start_time: '2026-12-03T19:26:26.120956Z',
  },
  ppid: 1,
  comm: 'false',
  exe: '/usr/bin/false',
  argv: ['false'],
  argv_truncated: false,
  credentials: { ruid: 0, rgid: 0, euid: 0, egid: 0, suid: 0, sgid: 0, fsuid: 0, fsgid: 0 },
  user: 'root',
  wait_status: 256,
  exit_code: 1,
  signal: null,
  signal_name: null,
  core_dumped: false,
  classification: 'ERROR',
  coredump_mask: null,
  lifetime_us: 2500,
  cgroup: { id: 1, path: '/', unit: null, slice: null, container_id: null, pod_uid: null },
  source: 'PIDFD',
  discovery: 'FORK',
  unreaped: false,
  coredump_seq: null,
};

describe('pidstream cat', () => {
  it('prints each event as one JSON object per line, type first, exactly', () => {
    const { code, stdout, stderr } = cat(dir);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(JSON.stringify(EXIT_LINE));
    expect(JSON.parse(lines[1] as string)).toEqual({
      type: 'agent',
      agent: {
        host: HOST,
        boot_id: BOOT_ID,
        instance_id: INSTANCE_ID,
        seq: 1,
        prev_digest: digestOfFirst,
      },
      time: '2026-12-03T19:26:26.123457Z',
      kind: 'NOTICE',
      loss_kind: null,
      count: 0,
      message: 'hello',
      attributes: { note: 'hello' },
    });
  });

  it('prints only the events of the type --type names', () => {
    const { code, stdout } = cat('--type', 'agent', dir);
    expect(code).toBe(0);
    expect(
      stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).type),
    ).toEqual(['agent']);
  });

  it('exits 1 naming a file it cannot read, after printing the files it can', () => {
    const missing = join(dir, 'missing.avro');
    const { code, stdout, stderr } = cat(missing, dir);
    expect(code).toBe(1);
    expect(stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(stderr).toBe(
      `pidstream: reading ${missing}: ENOENT: no such file or directory, stat '${missing}'\n`,
    );
  });

  it('exits 2 with one line naming a bad --type value or a missing argument', () => {
    const bad = cat('--type', 'crash', dir);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("option '--type <type>' argument 'crash' is invalid");
    expect(bad.stdout).toBe('');
    const none = cat();
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("missing required argument 'paths'");
  });

  it('prints a file cut inside a block up to its last complete block, notes it, and exits 0', () => {
    const whole = readFileSync(join(dir, readdirSync(dir)[0] as string));
    const cutDir = mkdtempSync(join(tmpdir(), 'pidstream-cat-cut-'));
    try {
      const cut = join(cutDir, 'growing.avro');
      writeFileSync(cut, whole.subarray(0, whole.length - 20));
      const { code, stdout, stderr } = cat(cut);
      expect(code).toBe(0);
      expect(stdout).toBe('');
      expect(stderr).toMatch(
        new RegExp(
          `^pidstream: ${cut} ends \\d+ bytes into an incomplete block \\(still being written`,
        ),
      );
    } finally {
      rmSync(cutDir, { recursive: true, force: true });
    }
  });

  it('stops quietly with exit 0 when its reader goes away, as under `| head -1`', async () => {
    const bigDir = mkdtempSync(join(tmpdir(), 'pidstream-cat-big-'));
    try {
      const sink = new AvroFileSink({ dir: bigDir });
      await sink.write(mixedEvents(sequencer(), 5000));
      await sink.close();
      const child = spawn(process.execPath, [distFile('cli/main.js'), 'cat', bigDir], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      await once(child.stdout, 'data');
      child.stdout.destroy();
      const [code] = (await once(child, 'exit')) as [number | null];
      expect(code).toBe(0);
      expect(stderr).toBe('');
    } finally {
      rmSync(bigDir, { recursive: true, force: true });
    }
  });
});
