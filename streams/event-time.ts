/**
 * Event times: read straight from an encoded record, and written as text.
 *
 * The `time` of an event is read without decoding the rest of the record.
 * Every pidstream event starts with the `agent` stamp (host, boot_id, instance_id as strings,
 * seq as a long, prev_digest as 32 fixed bytes) followed by `time` (timestamp-micros), so the
 * offset of `time` is found by skipping three strings, one long and the digest.
 */
import { DIGEST_SIZE } from '../ingest/sequencer.js';
import { readLong } from './ocf.js';

const STAMP_STRINGS = 3;

/** Wall-clock microseconds of the event in `record` (a full record: stamp ++ body). */
export function eventTimeUs(record: Buffer): number {
  let at = 0;
  for (let i = 0; i < STAMP_STRINGS; i++) at = skipString(record, at);
  at = need(readLong(record, at), at).end + DIGEST_SIZE;
  return need(readLong(record, at), at).value;
}

function skipString(record: Buffer, at: number): number {
  const length = need(readLong(record, at), at);
  return length.end + length.value;
}

function need<T>(value: T | null, at: number): T {
  if (value === null) throw new RangeError(`event record ends at byte ${at}, inside its stamp`);
  return value;
}

/** `2026-12-03T19:26:26.123456Z` from wall-clock microseconds. */
export function isoMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(us - ms * 1000).padStart(3, '0');
  return `${new Date(ms).toISOString().slice(0, 23)}${micros}Z`;
}

export const ISO_MICROS = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?Z$/;

export function parseIsoMicros(text: string): number {
  const match = ISO_MICROS.exec(text);
  const seconds = match === null ? NaN : Date.parse(`${match[1]}Z`);
  if (Number.isNaN(seconds)) throw new RangeError(`'${text}' is not an ISO-8601 UTC timestamp`);
  return seconds * 1000 + Number((match?.[2] ?? '').padEnd(6, '0'));
}
