import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';

import { hostName, readBootId } from '../common/host.js';
import { distFile } from '../common/paths.js';
import { bodyType } from '../schemas/index.js';
import { findCgroup2Mount } from '../workers/cgroup-index.js';
import {
  DISCOVERY_FORK,
  type EncodedBodies,
  type EncodeExitsTask,
  FLAG_CGROUP_ID,
  FLAG_WAIT_STATUS,
  RawExitWriter,
  SOURCE_PIDFD,
  type WorkerContext,
} from '../workers/protocol.js';

const context: WorkerContext = {
  host: hostName(),
  bootId: readBootId(),
  cgroupRoot: findCgroup2Mount(),
  passwdPath: '/etc/passwd',
};
const pool = new Piscina({
  filename: distFile('workers/task.js'),
  workerData: context,
  maxThreads: 1,
});

afterAll(() => pool.destroy());

function batchOf(count: number): ArrayBuffer {
  const writer = new RawExitWriter();
  for (let i = 0; i < count; i++) {
    writer.write({
      source: SOURCE_PIDFD,
      discovery: DISCOVERY_FORK,
      flags: FLAG_WAIT_STATUS | FLAG_CGROUP_ID,
      pid: 1000 + i,
      ppid: 0,
      waitStatus: i << 8,
      coredumpMask: 0,
      creds: [0, 0, 0, 0, 0, 0, 0, 0],
      pidfsIno: 0,
      cgroupId: 1,
      startTimeUs: 0,
      exitTimeUs: 1_700_000_000_000_000 + i,
      coredumpSeq: 0,
      comm: 'true',
      exe: '/usr/bin/true',
      argv: Buffer.from('true'),
    });
  }
  return writer.finish();
}

describe('the Piscina worker entry dist/workers/task.js', () => {
  it('moves the batch in and the encoded bodies out, one body per record in order', async () => {
    const batch = batchOf(3);
    const task: EncodeExitsTask = { task: 'encode-exits', batch, count: 3 };
    const result = (await pool.run(task, { transferList: [batch] })) as EncodedBodies;
    expect(batch.byteLength).toBe(0);
    expect(result.lengths).toBeInstanceOf(Uint32Array);
    expect(result.lengths.length).toBe(3);
    expect(result.dropped).toEqual([]);
    const type = bodyType('ProcessExit');
    const codes: unknown[] = [];
    const paths: unknown[] = [];
    let at = 0;
    for (const length of result.lengths) {
      const body = type.fromBuffer(Buffer.from(result.bodies, at, length)) as {
        exit_code: number;
        cgroup: { path: string };
      };
      codes.push(body.exit_code);
      paths.push(body.cgroup.path);
      at += length;
    }
    expect(at).toBe(result.bodies.byteLength);
    expect(codes).toEqual([0, 1, 2]);
    // The root cgroup, resolved in the worker thread through the cgroup index.
    expect(paths).toEqual(['/', '/', '/']);
  });

  it('rejects an unknown task by name', async () => {
    await expect(pool.run({ task: 'make-coffee' })).rejects.toThrow(
      "unknown worker task 'make-coffee'",
    );
  });
});
