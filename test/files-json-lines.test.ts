import { PassThrough } from 'node:stream';

import { describe, expect, it } from 'vitest';

import { isoMicros, parseIsoMicros } from '../streams/event-time.js';
import { eventToJson, jsonToEvent, JsonLinesSink, JsonLinesSource } from '../streams/json-lines.js';
import { eventType } from '../schemas/index.js';
import type { ReadEvent } from '../streams/types.js';
import { mixedEvents, sequencer, T0 } from './support/file-events.js';

describe('JSON lines', () => {
  it('writes timestamps as ISO-8601 with microseconds and reads them back exactly', () => {
    expect(isoMicros(T0)).toBe('2026-12-03T19:26:26.123456Z');
    expect(isoMicros(0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(isoMicros(-1)).toBe('1969-12-31T23:59:59.999999Z');
    expect(parseIsoMicros('2026-12-03T19:26:26.123456Z')).toBe(T0);
    expect(parseIsoMicros('2026-12-03T19:26:26Z')).toBe(T0 - 123_456);
    expect(() => parseIsoMicros('2026-12-03 19:26')).toThrow(
      "'2026-12-03 19:26' is not an ISO-8601 UTC timestamp",
    );
  });

  it('turns an event into JSON and back into the same Avro bytes', () => {
    for (const event of mixedEvents(sequencer(), 4)) {
      const json = eventToJson(event.name, eventType(event.name).fromBuffer(event.bytes));
      expect(Object.keys(json)[0]).toBe('type');
      const back = jsonToEvent(JSON.parse(JSON.stringify(json)) as Record<string, unknown>);
      expect(back.name).toBe(event.name);
      expect(back.bytes.equals(event.bytes)).toBe(true);
    }
  });

  it('names the fields a JSON line lacks', () => {
    expect(() => jsonToEvent({ type: 'agent', time: '2026-12-03T19:26:26Z' })).toThrow(
      'agent event has bad or missing fields: agent, kind, message',
    );
    expect(() => jsonToEvent({ type: 'crash' })).toThrow(
      '"type" is "crash"; expected exit, coredump or agent',
    );
  });

  it('carries events through `-` as a sink and back as a source', async () => {
    const events = mixedEvents(sequencer(), 6);
    const pipe = new PassThrough();
    const sink = new JsonLinesSink(pipe);
    await sink.write(events);
    pipe.end();
    const read: ReadEvent[] = [];
    for await (const event of new JsonLinesSource(pipe).events()) read.push(event);
    expect(read.map((e) => e.bytes.toString('hex'))).toEqual(
      events.map((e) => e.bytes.toString('hex')),
    );
    expect(read.map((e) => e.timeUs)).toEqual(events.map((_, i) => T0 + i * 1000));
    expect(read[2]?.position).toBe('-:3');
  });
});
