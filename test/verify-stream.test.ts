import { describe, expect, it } from 'vitest';

import type { StampedEvent } from '../ingest/sequencer.js';
import type { ReadEvent } from '../streams/types.js';
import { hasProblems, StreamVerifier } from '../streams/verify.js';
import { notices, testSequencer } from './support/kafka-events.js';

function read(event: StampedEvent, position: string, bytes = event.bytes): ReadEvent {
  return { name: event.name, bytes, timeUs: 0, position };
}

function verify(events: ReadEvent[]): ReturnType<StreamVerifier['report']> {
  const verifier = new StreamVerifier();
  for (const event of events) verifier.add(event);
  return verifier.report();
}

describe('stream verification', () => {
  it('passes a complete stream read from two partitions', () => {
    const events = notices(testSequencer(), 6);
    const report = verify(events.map((e, i) => read(e, `t/${i % 2}@${i}`)));
    expect(report.totals).toEqual({
      missing: 0,
      duplicates: 0,
      conflicts: 0,
      reordered: 0,
      altered: 0,
      undecodable: 0,
    });
    expect(report.instances[0]).toMatchObject({ events: 6, firstSeq: 0, lastSeq: 5, gaps: [] });
    expect(hasProblems(report, false)).toBe(false);
  });

  it('counts a resent event with identical bytes as a duplicate, not a loss', () => {
    const events = notices(testSequencer(), 4);
    const report = verify([
      ...events.map((e, i) => read(e, `t/0@${i}`)),
      read(events[2] as StampedEvent, 't/0@4'),
      read(events[3] as StampedEvent, 't/0@5'),
    ]);
    expect(report.totals.duplicates).toBe(2);
    expect(report.totals.reordered).toBe(0);
    expect(hasProblems(report, false)).toBe(true);
    expect(hasProblems(report, true)).toBe(false);
  });

  it('reports two different events with one id as a conflict', () => {
    const events = notices(testSequencer(), 3);
    const forged = Buffer.from((events[1] as StampedEvent).bytes);
    forged.writeUInt8(forged.readUInt8(forged.length - 3) ^ 1, forged.length - 3);
    const report = verify([
      ...events.map((e, i) => read(e, `t/0@${i}`)),
      read(events[1] as StampedEvent, 't/0@3', forged),
    ]);
    expect(report.instances[0]?.conflicts).toEqual([
      { seq: 1, position: 't/0@3', detail: 'differs from the event with the same id at t/0@1' },
    ]);
  });

  it('reports an event that arrives after a later one in the same partition', () => {
    const events = notices(testSequencer(), 4);
    const order = [0, 2, 1, 3];
    const report = verify(order.map((n, i) => read(events[n] as StampedEvent, `t/0@${i}`)));
    expect(report.instances[0]?.reordered).toEqual([
      { seq: 1, position: 't/0@2', detail: 'arrived after seq 2 in t/0' },
    ]);
  });

  it('does not call events of one instance spread over partitions reordered', () => {
    const events = notices(testSequencer(), 4);
    const report = verify([
      read(events[1] as StampedEvent, 'a/0@0'),
      read(events[3] as StampedEvent, 'a/0@1'),
      read(events[0] as StampedEvent, 'b/0@0'),
      read(events[2] as StampedEvent, 'b/0@1'),
    ]);
    expect(report.totals.reordered).toBe(0);
    expect(hasProblems(report, false)).toBe(false);
  });

  it('keeps instances apart: each has its own sequence from 0', () => {
    const a = notices(testSequencer('a'), 3);
    const b = notices(testSequencer('b'), 2);
    const report = verify([...a, ...b].map((e, i) => read(e, `t/0@${i}`)));
    expect(report.instances.map((i) => [i.host, i.events])).toEqual([
      ['a', 3],
      ['b', 2],
    ]);
    expect(hasProblems(report, false)).toBe(false);
  });

  it('reports a record too short to hold a stamp as undecodable', () => {
    const report = verify([
      { name: 'AgentEvent', bytes: Buffer.from([4, 0x61]), timeUs: 0, position: 'f:1' },
    ]);
    expect(report.totals.undecodable).toBe(1);
    expect(report.undecodable[0]?.position).toBe('f:1');
  });
});
