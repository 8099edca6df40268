import avro from 'avsc';
import { describe, expect, it } from 'vitest';

import { eventType, EVENT_NAMES } from '../schemas/index.js';
import { readVarLong, recordSkipperAround, skipperOf, skipVarint } from '../streams/avro-skip.js';
import { mixedEvents, sequencer } from './support/file-events.js';

const EVERY_TYPE = avro.Type.forSchema({
  type: 'record',
  name: 'EveryType',
  fields: [
    { name: 'n', type: 'null' },
    { name: 'b', type: 'boolean' },
    { name: 'i', type: 'int' },
    { name: 'l', type: 'long' },
    { name: 'f', type: 'float' },
    { name: 'd', type: 'double' },
    { name: 's', type: 'string' },
    { name: 'y', type: 'bytes' },
    { name: 'x', type: { type: 'fixed', name: 'Four', size: 4 } },
    { name: 'e', type: { type: 'enum', name: 'Colour', symbols: ['RED', 'GREEN'] } },
    { name: 'a', type: { type: 'array', items: 'string' } },
    { name: 'm', type: { type: 'map', values: 'long' } },
    { name: 'u', type: ['null', 'string', 'long'] },
    { name: 't', type: { type: 'long', logicalType: 'timestamp-micros' } },
    { name: 'next', type: ['null', 'EveryType'] },
  ],
});

const VALUE = {
  n: null,
  b: true,
  i: -7,
  l: 2 ** 40,
  f: 1.5,
  d: -2.25,
  s: 'héllo',
  y: Buffer.from([1, 2, 3]),
  x: Buffer.from('abcd'),
  e: 'GREEN',
  a: ['one', '', 'three'],
  m: { k: 5, other: -1 },
  u: { string: 'branch' },
  t: 1_700_000_000_000_000,
  next: {
    EveryType: {
      n: null,
      b: false,
      i: 0,
      l: 0,
      f: 0,
      d: 0,
      s: '',
      y: Buffer.alloc(0),
      x: Buffer.from('wxyz'),
      e: 'RED',
      a: [],
      m: {},
      u: null,
      t: 0,
      next: null,
    },
  },
};

describe('skipping Avro values without decoding them', () => {
  it('ends each value of every type where avsc’s decoder ends it', () => {
    const type = avro.Type.forSchema(EVERY_TYPE.schema(), { wrapUnions: true });
    const bytes = Buffer.concat([Buffer.from([9, 9]), type.toBuffer(VALUE), Buffer.from([7])]);
    expect(skipperOf(type)(bytes, 2)).toBe(bytes.length - 1);
  });

  it('steps over arrays written in blocks with negative counts and byte sizes', () => {
    const type = avro.Type.forSchema({ type: 'array', items: 'string' });
    // count -2 (zig-zag 3), size 8, "ab" "cde", then count 1, "f", then the 0 that ends it.
    const items = Buffer.from([4, 0x61, 0x62, 6, 0x63, 0x64, 0x65]);
    const bytes = Buffer.from([3, 14, ...items, 2, 2, 0x66, 0]);
    expect(type.decode(bytes, 0).value).toEqual(['ab', 'cde', 'f']);
    expect(skipperOf(type)(bytes, 0)).toBe(bytes.length);
  });

  it('says a value runs past the buffer when it is cut short', () => {
    const type = avro.Type.forSchema(EVERY_TYPE.schema(), { wrapUnions: true });
    const bytes = type.toBuffer(VALUE);
    const cut = bytes.subarray(0, bytes.length - 5);
    expect(skipperOf(type)(cut, 0)).toBeGreaterThan(cut.length);
    expect(readVarLong(Buffer.from([0x80, 0x80]), 0)).toBeNaN();
    expect(skipVarint(Buffer.from([0x80, 0x80]), 0)).toBe(3);
  });

  it('reads the time of every event schema between the two halves of its record', () => {
    for (const event of mixedEvents(sequencer(), 6)) {
      const type = eventType(event.name);
      const skipper = recordSkipperAround(type, 'time');
      if (skipper === null) throw new Error(`${event.name} has no time field`);
      const at = skipper.before(event.bytes, 0);
      const decoded = type.fromBuffer(event.bytes) as { time: number };
      expect(readVarLong(event.bytes, at)).toBe(decoded.time);
      expect(skipper.after(event.bytes, skipVarint(event.bytes, at))).toBe(event.bytes.length);
    }
    expect(
      EVENT_NAMES.map((name) => recordSkipperAround(eventType(name), 'time') !== null),
    ).toEqual([true, true, true]);
  });
});
