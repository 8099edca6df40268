import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { Spool } from '../streams/spool.js';
import { notices, testSequencer } from './support/kafka-events.js';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-spool-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function segments(): string[] {
  return readdirSync(dir).filter((n) => n.endsWith('.seg'));
}

describe('spool', () => {
  it('returns appended events in order after a reopen, unacknowledged ones only', async () => {
    const events = notices(testSequencer(), 10);
    const first = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'batch' });
    first.append(events);
    await first.sync();
    first.ack(4);
    first.close();

    const again = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'batch' });
    expect(again.recovery).toEqual({ pending: 6, truncatedBytes: 0 });
    const read = again.read(100, 1 << 20);
    expect(read.map((r) => r.offset)).toEqual([4, 5, 6, 7, 8, 9]);
    expect(read.map((r) => r.bytes.equals((events[r.offset] as { bytes: Buffer }).bytes))).toEqual(
      Array(6).fill(true),
    );
    expect(read[0]?.name).toBe('AgentEvent');
    again.close();
  });

  it('truncates a torn trailing record, as a SIGKILL mid-write leaves, and keeps the rest', () => {
    const events = notices(testSequencer(), 5);
    const spool = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'none' });
    spool.append(events);
    spool.close();
    const path = join(dir, segments()[0] as string);
    const whole = statSync(path).size;
    // Half of a sixth record: a length header that promises more bytes than follow.
    appendFileSync(path, Buffer.from([0x40, 0, 0, 0, 1, 2, 3, 4, 2, 9, 9]));

    const again = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'none' });
    expect(again.recovery).toEqual({ pending: 5, truncatedBytes: 11 });
    expect(statSync(path).size).toBe(whole);
    expect(again.read(100, 1 << 20).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    again.close();
  });

  it('stops at a record whose checksum does not match and truncates from there', () => {
    const events = notices(testSequencer(), 4);
    const spool = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'none' });
    spool.append(events);
    spool.close();
    const path = join(dir, segments()[0] as string);
    const recordSize = statSync(path).size / 4;
    const data = readFileSync(path);
    data.writeUInt8(data.readUInt8(recordSize * 2 + 30) ^ 0xff, recordSize * 2 + 30);
    writeFileSync(path, data);

    const again = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'none' });
    expect(again.recovery).toEqual({ pending: 2, truncatedBytes: recordSize * 2 });
    again.close();
  });

  it('drops the oldest segments at the cap and counts the unacknowledged events dropped', () => {
    const sequencer = testSequencer();
    const spool = Spool.open({ dir, maxBytes: 256 * 1024, fsync: 'none' });
    expect(spool.segmentBytes).toBe(64 * 1024);
    let dropped = 0;
    for (let i = 0; i < 100; i++) dropped += spool.append(notices(sequencer, 20, 100));

    expect(spool.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(dropped).toBeGreaterThan(0);
    expect(spool.pending + dropped).toBe(2000);
    expect(spool.ackOffset).toBe(dropped);
    const read = spool.read(5, 1 << 20);
    expect(read[0]?.offset).toBe(dropped);
    spool.close();
  });

  it('deletes a segment once every event in it is acknowledged', () => {
    const spool = Spool.open({ dir, maxBytes: 1024 * 1024, fsync: 'none' });
    const sequencer = testSequencer();
    for (let i = 0; i < 20; i++) spool.append(notices(sequencer, 100, 100));
    const before = segments().length;
    expect(before).toBeGreaterThan(2);

    spool.ack(spool.endOffset);
    expect(segments().length).toBe(1);
    expect(spool.pending).toBe(0);
    spool.close();
  });

  it('resends from the first unacknowledged event after a rewind', () => {
    const spool = Spool.open({ dir, maxBytes: 1 << 20, fsync: 'none' });
    spool.append(notices(testSequencer(), 10));
    expect(spool.read(3, 1 << 20).map((r) => r.offset)).toEqual([0, 1, 2]);
    spool.ack(3);
    expect(spool.read(4, 1 << 20).map((r) => r.offset)).toEqual([3, 4, 5, 6]);
    spool.rewind();
    expect(spool.read(100, 1 << 20).map((r) => r.offset)).toEqual([3, 4, 5, 6, 7, 8, 9]);
    spool.close();
  });
});
