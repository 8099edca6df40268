import { describe, expect, it } from 'vitest';

import {
  DISCOVERY_SCAN,
  FLAG_CREDS,
  FLAG_WAIT_STATUS,
  RawExit,
  RawExitWriter,
  readRawExit,
  SOURCE_PIDFD,
} from '../workers/protocol.js';

function record(pid: number, argv: string): RawExit {
  return {
    source: SOURCE_PIDFD,
    discovery: DISCOVERY_SCAN,
    flags: FLAG_WAIT_STATUS | FLAG_CREDS,
    pid,
    ppid: 1,
    waitStatus: 0x8b,
    coredumpMask: 1,
    creds: [1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007],
    pidfsIno: 2 ** 40 + 5,
    cgroupId: 12345,
    startTimeUs: 1_764_000_000_123_456,
    exitTimeUs: 1_764_000_001_000_000,
    coredumpSeq: -1,
    comm: 'kworker/ü',
    exe: '/usr/bin/sleep',
    argv: new TextEncoder().encode(argv),
  };
}

describe('raw exit records', () => {
  it('round-trip every field through a transferred batch, 8-byte aligned', () => {
    const writer = new RawExitWriter(64);
    writer.write(record(42, 'sleep\u00001'));
    writer.write(record(43, 'x'.repeat(5000)));
    expect(writer.count).toBe(2);
    const batch = writer.finish();
    expect(batch.byteLength % 8).toBe(0);

    const first = readRawExit(batch, 0);
    expect(first.next % 8).toBe(0);
    const { argv, ...rest } = first.record;
    const { argv: _argv, ...expected } = record(42, '');
    expect(rest).toEqual(expected);
    expect(new TextDecoder().decode(argv)).toBe('sleep\u00001');

    const second = readRawExit(batch, first.next);
    expect(second.record.pid).toBe(43);
    expect(second.record.argv.length).toBe(5000);
    expect(second.next).toBe(batch.byteLength);
  });

  it('refuses a record whose length runs past the batch', () => {
    const writer = new RawExitWriter();
    writer.write(record(1, 'a'));
    const batch = writer.finish();
    const cut = batch.slice(0, batch.byteLength - 8);
    expect(() => readRawExit(cut, 0)).toThrow(RangeError);
    expect(() => readRawExit(cut, 0)).toThrow(/raw record at 0: length \d+ runs past \d+/);
  });
});
