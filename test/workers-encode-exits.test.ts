import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { close } from '../native/libc.js';
import {
  PIDFD_INFO_CGROUPID,
  PIDFD_INFO_CREDS,
  PIDFD_INFO_EXIT,
  pidfdGetInfo,
  pidfdOpen,
} from '../native/pidfd.js';
import { bodyType } from '../schemas/index.js';
import { findCgroup2Mount } from '../workers/cgroup-index.js';
import {
  ENCODE_BUFFER_INITIAL_BYTES,
  ExitEncoder,
  type ProcessExitBody,
} from '../workers/encode-exits.js';
import {
  DISCOVERY_EXEC,
  FLAG_CGROUP_ID,
  FLAG_COREDUMP_SEQ,
  FLAG_CREDS,
  FLAG_OOM_KILL,
  FLAG_PIDFS_INO,
  FLAG_PPID,
  FLAG_START_TIME,
  FLAG_WAIT_STATUS,
  type RawExit,
  RawExitWriter,
  SOURCE_PIDFD,
  SOURCE_PROC_CONNECTOR,
  type WorkerContext,
} from '../workers/protocol.js';

const BOOT = '0b9e1c7e-5d2a-4f3b-9c8d-7e6f5a4b3c2d';
const tmp = mkdtempSync(join(tmpdir(), 'pidstream-encode-'));
const passwd = join(tmp, 'passwd');
writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n');
const context: WorkerContext = {
  host: 'test-host',
  bootId: BOOT,
  cgroupRoot: findCgroup2Mount(),
  passwdPath: passwd,
};

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function raw(overrides: Partial<RawExit>): RawExit {
  return {
    source: SOURCE_PIDFD,
    discovery: DISCOVERY_EXEC,
    flags: FLAG_WAIT_STATUS | FLAG_CREDS | FLAG_PIDFS_INO | FLAG_START_TIME | FLAG_PPID,
    pid: 4242,
    ppid: 1,
    waitStatus: 0,
    coredumpMask: 0,
    creds: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
    pidfsIno: 9001,
    cgroupId: 0,
    startTimeUs: 1_700_000_000_000_000,
    exitTimeUs: 1_700_000_001_500_000,
    coredumpSeq: 0,
    comm: 'worker',
    exe: '/usr/bin/worker',
    argv: Buffer.from('worker\0--jobs\x004'),
    ...overrides,
  };
}

function encodeAll(encoder: ExitEncoder, records: RawExit[]) {
  const writer = new RawExitWriter();
  for (const r of records) writer.write(r);
  const result = encoder.encode(writer.finish(), records.length);
  const type = bodyType('ProcessExit');
  const bodies: ProcessExitBody[] = [];
  let at = 0;
  for (const length of result.lengths) {
    bodies.push(type.fromBuffer(Buffer.from(result.bodies, at, length)) as ProcessExitBody);
    at += length;
  }
  return { result, bodies };
}

describe('ExitEncoder on crafted raw records', () => {
  it('decodes and enriches an error exit into the exact ProcessExit body', () => {
    const encoder = new ExitEncoder(context, null);
    const { bodies } = encodeAll(encoder, [raw({ waitStatus: 0x0200 })]);
    expect(bodies).toEqual([
      {
        time: 1_700_000_001_500_000,
        process: { boot_id: BOOT, pidfs_ino: 9001, pid: 4242, start_time: 1_700_000_000_000_000 },
        ppid: 1,
        comm: 'worker',
        exe: '/usr/bin/worker',
        argv: ['worker', '--jobs', '4'],
        argv_truncated: false,
        credentials: {
          ruid: 1000,
          rgid: 1000,
          euid: 1000,
          egid: 1000,
          suid: 1000,
          sgid: 1000,
          fsuid: 1000,
          fsgid: 1000,
        },
        user: 'alice',
        wait_status: 0x0200,
        exit_code: 2,
        signal: null,
        signal_name: null,
        core_dumped: false,
        classification: 'ERROR',
        coredump_mask: null,
        lifetime_us: 1_500_000,
        cgroup: {
          id: null,
          path: null,
          unit: null,
          slice: null,
          container_id: null,
          pod_uid: null,
        },
        source: 'PIDFD',
        discovery: 'EXEC',
        unreaped: false,
        coredump_seq: null,
      },
    ]);
  });

  it('reports a crash with its signal name and the coredump seq it points to', () => {
    const encoder = new ExitEncoder(context, null);
    const flags = FLAG_WAIT_STATUS | FLAG_COREDUMP_SEQ;
    const { bodies } = encodeAll(encoder, [raw({ flags, waitStatus: 0x8b, coredumpSeq: 77 })]);
    const [body] = bodies;
    expect(body?.signal).toBe(11);
    expect(body?.signal_name).toBe('SIGSEGV');
    expect(body?.core_dumped).toBe(true);
    expect(body?.classification).toBe('CRASHED');
    expect(body?.coredump_seq).toBe(77);
    expect(body?.credentials).toBeNull();
    expect(body?.user).toBeNull();
    expect(body?.lifetime_us).toBeNull();
    expect(body?.process.start_time).toBeNull();
  });

  it('classifies SIGKILL as OOM_KILLED only when the ingest flagged an oom_kill', () => {
    const encoder = new ExitEncoder(context, null);
    const { bodies } = encodeAll(encoder, [
      raw({ waitStatus: 9 }),
      raw({ waitStatus: 9, flags: FLAG_WAIT_STATUS | FLAG_OOM_KILL }),
      raw({ flags: 0, source: SOURCE_PROC_CONNECTOR }),
    ]);
    expect(bodies.map((b) => b.classification)).toEqual(['KILLED', 'OOM_KILLED', 'UNKNOWN']);
    expect(bodies[2]?.wait_status).toBeNull();
    expect(bodies[2]?.source).toBe('PROC_CONNECTOR');
  });

  it('drops a record of unknown kind, says why, and encodes the ones around it', () => {
    const encoder = new ExitEncoder(context, null);
    const writer = new RawExitWriter();
    writer.write(raw({ pid: 1 }));
    writer.write(raw({ pid: 2 }));
    writer.write(raw({ pid: 3 }));
    const batch = writer.finish();
    const second = new DataView(batch).getUint32(0, true);
    new DataView(batch).setUint16(second + 4, 99, true);
    const result = encoder.encode(batch, 3);
    expect(result.lengths).toHaveLength(2);
    expect(result.bodies.byteLength).toBe((result.lengths[0] ?? 0) + (result.lengths[1] ?? 0));
    const type = bodyType('ProcessExit');
    const first = type.fromBuffer(
      Buffer.from(result.bodies, 0, result.lengths[0]),
    ) as ProcessExitBody;
    const third = type.fromBuffer(Buffer.from(result.bodies, result.lengths[0])) as ProcessExitBody;
    expect([first.process.pid, third.process.pid]).toEqual([1, 3]);
    expect(result.dropped).toEqual([
      { offset: second, reason: `raw record at ${second}: unknown kind 99` },
    ]);
  });

  it('grows its output buffer for a batch larger than it, keeping every body whole', () => {
    const encoder = new ExitEncoder(context, null);
    const long = 'x'.repeat(ENCODE_BUFFER_INITIAL_BYTES);
    const { result, bodies } = encodeAll(encoder, [
      raw({ pid: 1 }),
      raw({ pid: 2, argv: Buffer.from(`big\0${long}`) }),
      raw({ pid: 3 }),
    ]);
    expect(result.dropped).toEqual([]);
    expect(bodies.map((b) => b.process.pid)).toEqual([1, 2, 3]);
    expect(bodies[1]?.argv).toEqual(['big', long]);
  });

  it('reloads the passwd file when it changes', () => {
    const encoder = new ExitEncoder(context, null);
    expect(encodeAll(encoder, [raw({})]).bodies[0]?.user).toBe('alice');
    writeFileSync(
      passwd,
      'root:x:0:0:root:/root:/bin/sh\nbob-the-builder:x:1000:1000::/:/bin/sh\n',
    );
    expect(encodeAll(encoder, [raw({})]).bodies[0]?.user).toBe('bob-the-builder');
    expect(encoder.users.loads).toBe(2);
  });
});

describe('user names', () => {
  it('leaves user null and says why while the passwd file is missing, then loads it', () => {
    const path = join(tmp, 'passwd-late');
    const encoder = new ExitEncoder({ ...context, passwdPath: path }, null);
    expect(encodeAll(encoder, [raw({})]).bodies[0]?.user).toBeNull();
    expect(encoder.users.lastError).toBe(
      `reading ${path}: ENOENT: no such file or directory, stat '${path}'`,
    );
    writeFileSync(path, 'carol:x:1000:1000::/:/bin/sh\n');
    expect(encodeAll(encoder, [raw({})]).bodies[0]?.user).toBe('carol');
    expect(encoder.users.lastError).toBeNull();
  });
});

describe('ExitEncoder on a real process in a real cgroup', () => {
  it('resolves the cgroup path and the user of a child run as nobody in a cgroup the test creates', async () => {
    const root = context.cgroupRoot as string;
    const name = `pidstream-test-encode-${process.pid}.scope`;
    const dir = join(root, name);
    mkdirSync(dir);
    try {
      writeFileSync(passwd, 'root:x:0:0::/:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n');
      const child = spawn('/bin/sh', ['-c', 'read line; exit 3'], {
        uid: 65534,
        gid: 65534,
        stdio: ['pipe', 'ignore', 'ignore'],
      });
      const pid = child.pid as number;
      const pidfd = pidfdOpen(pid);
      try {
        writeFileSync(join(dir, 'cgroup.procs'), String(pid));
        // Credentials are read while the process lives, as the ingest does; the exit status
        // and the cgroup id at exit after the reap (PIDFD_INFO_EXIT, Linux 6.15).
        const alive = pidfdGetInfo(pidfd, PIDFD_INFO_CREDS);
        child.stdin?.end('go\n');
        await once(child, 'exit');
        const info = pidfdGetInfo(pidfd, PIDFD_INFO_EXIT | PIDFD_INFO_CGROUPID);
        expect(info.cgroupid).toBe(statSync(dir).ino);
        const flags = FLAG_WAIT_STATUS | FLAG_CREDS | FLAG_CGROUP_ID;
        const encoder = new ExitEncoder(context);
        const { bodies } = encodeAll(encoder, [
          raw({
            flags,
            pid,
            waitStatus: info.exit_code,
            cgroupId: info.cgroupid,
            creds: [
              alive.ruid,
              alive.rgid,
              alive.euid,
              alive.egid,
              alive.suid,
              alive.sgid,
              alive.fsuid,
              alive.fsgid,
            ],
          }),
        ]);
        const [body] = bodies;
        expect(body?.exit_code).toBe(3);
        expect(body?.classification).toBe('ERROR');
        expect(body?.user).toBe('nobody');
        expect(body?.credentials?.ruid).toBe(65534);
        expect(body?.cgroup).toEqual({
          id: info.cgroupid,
          path: `/${name}`,
          unit: name,
          slice: null,
          container_id: null,
          pod_uid: null,
        });
      } finally {
        close(pidfd);
      }
    } finally {
      rmdirSync(dir);
    }
  });
});
