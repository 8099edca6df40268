/**
 * Per-record cost of the `encode-exits` worker task: raw record → decode → enrich → Avro body,
 * measured in one thread, beside a baseline measured in the same run (avsc encoding the same
 * body, already built) so the ratio holds on a busy machine.
 *
 *   npm run bench:encode [-- RECORDS]
 */
import { performance } from 'node:perf_hooks';

import { bodyType } from '../schemas/index.js';
import { findCgroup2Mount } from '../workers/cgroup-index.js';
import { ExitEncoder } from '../workers/encode-exits.js';
import {
  DISCOVERY_EXEC,
  FLAG_CGROUP_ID,
  FLAG_CREDS,
  FLAG_PIDFS_INO,
  FLAG_PPID,
  FLAG_START_TIME,
  FLAG_WAIT_STATUS,
  RawExitWriter,
  readRawExit,
  SOURCE_PIDFD,
} from '../workers/protocol.js';

const RECORDS = Number(process.argv[2] ?? 200_000);
const BATCH = 256;
const ROUNDS = 5;

function batch(): ArrayBuffer {
  const writer = new RawExitWriter();
  for (let i = 0; i < BATCH; i++) {
    writer.write({
      source: SOURCE_PIDFD,
      discovery: DISCOVERY_EXEC,
      flags:
        FLAG_WAIT_STATUS |
        FLAG_CREDS |
        FLAG_PIDFS_INO |
        FLAG_START_TIME |
        FLAG_PPID |
        FLAG_CGROUP_ID,
      pid: 10_000 + i,
      ppid: 1,
      waitStatus: (i % 3) << 8,
      coredumpMask: 0,
      creds: [0, 0, 0, 0, 0, 0, 0, 0],
      pidfsIno: 5_000_000 + i,
      cgroupId: 1,
      startTimeUs: 1_700_000_000_000_000,
      exitTimeUs: 1_700_000_000_250_000,
      coredumpSeq: 0,
      comm: 'gcc',
      exe: '/usr/bin/x86_64-linux-gnu-gcc-12',
      argv: Buffer.from('gcc\0-O2\0-c\0src/module.c\0-o\0build/module.o'),
    });
  }
  return writer.finish();
}

function best(run: () => void): number {
  let fastest = Number.POSITIVE_INFINITY;
  for (let round = 0; round < ROUNDS; round++) {
    const start = performance.now();
    run();
    fastest = Math.min(fastest, performance.now() - start);
  }
  return (fastest * 1000) / RECORDS;
}

const encoder = new ExitEncoder({
  host: 'bench',
  bootId: '0b9e1c7e-5d2a-4f3b-9c8d-7e6f5a4b3c2d',
  cgroupRoot: findCgroup2Mount(),
  passwdPath: '/etc/passwd',
});
const input = batch();
const body = encoder.enrich(readRawExit(input, 0).record);
const type = bodyType('ProcessExit');
const out = Buffer.alloc(64 * 1024);
const batches = Math.ceil(RECORDS / BATCH);

const baseline = best(() => {
  for (let i = 0; i < batches * BATCH; i++) type.encode(body, out, 0);
});
const full = best(() => {
  for (let i = 0; i < batches; i++) encoder.encode(input, BATCH);
});

console.table([
  { step: 'avsc encode of a built body (baseline)', 'µs/record': baseline.toFixed(2) },
  { step: 'encode-exits: decode + enrich + encode', 'µs/record': full.toFixed(2) },
  { step: 'ratio', 'µs/record': (full / baseline).toFixed(2) },
]);
