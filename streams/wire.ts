/**
 * How one event travels as a Kafka message value. Two framings, both naming the schema in the
 * message itself so a consumer needs nothing but the bytes:
 *   - Avro single-object encoding: `C3 01`, the schema's 8-byte little-endian CRC-64-AVRO
 *     (Rabin) fingerprint, then the Avro record;
 *   - the Confluent wire format: magic byte 0, the 4-byte big-endian schema id the registry
 *     assigned, then the Avro record. Registration, the compatibility check and the framing
 *     are done by @kafkajs/confluent-schema-registry.
 * The record bytes inside either frame are the sequencer's full record, untouched, so the hash
 * chain can be checked on what a consumer receives.
 */
import { COMPATIBILITY, SchemaRegistry, SchemaType } from '@kafkajs/confluent-schema-registry';
import { encode as confluentFrame } from '@kafkajs/confluent-schema-registry/dist/wireEncoder.js';

import { PidstreamError } from '../common/errors.js';
import { EVENT_KIND, EVENT_NAMES, type EventName, schemaJson } from '../schemas/index.js';

export const SINGLE_OBJECT_MAGIC = Buffer.from([0xc3, 0x01]);
export const SINGLE_OBJECT_HEADER_SIZE = 10;
export const CONFLUENT_MAGIC = 0;
export const CONFLUENT_HEADER_SIZE = 5;

/** Kafka header names every pidstream message carries. */
export const HEADER_TYPE = 'pidstream-type';
export const HEADER_FINGERPRINT = 'pidstream-schema-fingerprint';

type Json = Record<string, unknown>;

// Attributes kept by Avro's Parsing Canonical Form, in the order the form writes them.
const CANONICAL_KEYS = ['name', 'type', 'fields', 'symbols', 'items', 'values', 'size'] as const;
const PRIMITIVES = new Set([
  'null',
  'boolean',
  'int',
  'long',
  'float',
  'double',
  'bytes',
  'string',
]);

/**
 * The schema's Parsing Canonical Form (Avro specification, "Parsing Canonical Form for
 * Schemas"): full names, only the attributes that affect parsing, fixed key order, no
 * whitespace. avsc does not produce this form (its `schema()` keeps its own key order), so it
 * is written here; the fingerprint below is computed over it.
 */
export function canonicalForm(schema: unknown): string {
  return canonical(schema, null, new Set());
}

function fullName(name: string, namespace: string | null): string {
  if (name.includes('.') || namespace === null || namespace === '') return name;
  return `${namespace}.${name}`;
}

function canonical(schema: unknown, namespace: string | null, defined: Set<string>): string {
  if (typeof schema === 'string') {
    return JSON.stringify(PRIMITIVES.has(schema) ? schema : fullName(schema, namespace));
  }
  if (Array.isArray(schema)) {
    return `[${schema.map((s) => canonical(s, namespace, defined)).join(',')}]`;
  }
  const node = schema as Json;
  const type = node.type as unknown;
  if (typeof type === 'string' && PRIMITIVES.has(type)) return JSON.stringify(type);
  if (typeof type !== 'string') return canonical(type, namespace, defined);

  let inner = namespace;
  let name: string | null = null;
  if (typeof node.name === 'string') {
    const ns = typeof node.namespace === 'string' ? node.namespace : namespace;
    name = fullName(node.name, ns);
    inner = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : null;
    if (defined.has(name)) return JSON.stringify(name);
    defined.add(name);
  }
  const parts: string[] = [];
  for (const key of CANONICAL_KEYS) {
    if (!(key in node)) continue;
    if (key === 'name') parts.push(`"name":${JSON.stringify(name)}`);
    else if (key === 'type') parts.push(`"type":${JSON.stringify(type)}`);
    else if (key === 'fields') {
      const fields = (node.fields as Json[]).map(
        (f) => `{"name":${JSON.stringify(f.name)},"type":${canonical(f.type, inner, defined)}}`,
      );
      parts.push(`"fields":[${fields.join(',')}]`);
    } else if (key === 'symbols') parts.push(`"symbols":${JSON.stringify(node.symbols)}`);
    else if (key === 'size') parts.push(`"size":${JSON.stringify(node.size)}`);
    else parts.push(`"${key}":${canonical(node[key], inner, defined)}`);
  }
  return `{${parts.join(',')}}`;
}

// CRC-64-AVRO, the Rabin fingerprint the Avro specification defines for single-object
// encoding. Hand-written because avsc offers only cryptographic hashes; BigInt is fine here
// since a fingerprint is computed once per schema.
const RABIN_EMPTY = 0xc15d213aa4d7a795n;
const MASK64 = 0xffffffffffffffffn;
let rabinTable: bigint[] | undefined;

function table(): bigint[] {
  if (rabinTable !== undefined) return rabinTable;
  rabinTable = [];
  for (let i = 0; i < 256; i++) {
    let fp = BigInt(i);
    for (let j = 0; j < 8; j++) fp = (fp >> 1n) ^ (RABIN_EMPTY & -(fp & 1n) & MASK64);
    rabinTable.push(fp);
  }
  return rabinTable;
}

/** The 64-bit CRC-64-AVRO fingerprint of a canonical form, as an unsigned BigInt. */
export function rabinFingerprint(canonicalSchema: string): bigint {
  const t = table();
  let fp = RABIN_EMPTY;
  for (const byte of Buffer.from(canonicalSchema, 'utf8')) {
    fp = (fp >> 8n) ^ (t[Number((fp ^ BigInt(byte)) & 0xffn)] as bigint);
  }
  return fp;
}

/** The 8 fingerprint bytes as single-object encoding writes them: little-endian. */
export function fingerprintBytes(name: EventName): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE(rabinFingerprint(canonicalForm(schemaJson(name))));
  return out;
}

/** One event as a Kafka message: value and headers. */
export interface WireMessage {
  value: Buffer;
  headers: Record<string, Buffer>;
}

export interface WireEncoder {
  readonly format: 'single-object' | 'confluent';
  frame(name: EventName, record: Buffer): Buffer;
  /** The bytes `frame` puts before the record; the same for every record of the event type. */
  prefix(name: EventName): Buffer;
  headers(name: EventName): Record<string, Buffer>;
}

function fixedHeaders(): Record<EventName, Record<string, Buffer>> {
  const out = {} as Record<EventName, Record<string, Buffer>>;
  for (const name of EVENT_NAMES) {
    out[name] = {
      [HEADER_TYPE]: Buffer.from(EVENT_KIND[name]),
      [HEADER_FINGERPRINT]: Buffer.from(fingerprintBytes(name).toString('hex')),
    };
  }
  return out;
}

/** Avro single-object encoding: the 10-byte header is computed once per schema. */
export function singleObjectEncoder(): WireEncoder {
  const prefixes = new Map<EventName, Buffer>();
  for (const name of EVENT_NAMES) {
    prefixes.set(name, Buffer.concat([SINGLE_OBJECT_MAGIC, fingerprintBytes(name)]));
  }
  const headers = fixedHeaders();
  return {
    format: 'single-object',
    frame: (name, record) => Buffer.concat([prefixes.get(name) as Buffer, record]),
    prefix: (name) => prefixes.get(name) as Buffer,
    headers: (name) => headers[name],
  };
}

/**
 * Registers each event's schema under `<topic>-value` (the registry's default subject naming,
 * which ClickHouse, ksqlDB and Flink expect), with BACKWARD compatibility so a new schema
 * version that old consumers cannot read is refused at start rather than in production.
 */
export async function confluentEncoder(
  registryUrl: string,
  topics: Record<EventName, string>,
): Promise<WireEncoder> {
  const registry = new SchemaRegistry({ host: registryUrl });
  const ids = new Map<EventName, number>();
  for (const name of EVENT_NAMES) {
    const subject = `${topics[name]}-value`;
    try {
      const { id } = await registry.register(
        { type: SchemaType.AVRO, schema: JSON.stringify(schemaJson(name)) },
        { subject, compatibility: COMPATIBILITY.BACKWARD },
      );
      ids.set(name, id);
    } catch (err) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_REGISTRY',
        `registering the ${name} schema as subject ${subject} at ${registryUrl} failed`,
        { cause: err },
      );
    }
  }
  const headers = fixedHeaders();
  // The library's frame of an empty record is the magic byte and the schema id alone.
  const prefixes = new Map(
    [...ids].map(([name, id]) => [name, confluentFrame(id, Buffer.alloc(0))]),
  );
  return {
    format: 'confluent',
    frame: (name, record) => confluentFrame(ids.get(name) as number, record),
    prefix: (name) => prefixes.get(name) as Buffer,
    headers: (name) => headers[name],
  };
}

/** Which event a fingerprint names; built once. */
let byFingerprint: Map<string, EventName> | undefined;

function eventOfFingerprint(fp: Buffer): EventName | undefined {
  if (byFingerprint === undefined) {
    byFingerprint = new Map();
    for (const name of EVENT_NAMES) byFingerprint.set(fingerprintBytes(name).toString('hex'), name);
  }
  return byFingerprint.get(fp.toString('hex'));
}

function eventOfKind(kind: string): EventName | undefined {
  return EVENT_NAMES.find((name) => EVENT_KIND[name] === kind);
}

/**
 * Strips the framing from a message value and names its event: from the fingerprint for
 * single-object encoding, from the `pidstream-type` header for the Confluent format (whose
 * schema id means something only to the registry that assigned it).
 */
export function unframe(
  value: Buffer,
  typeHeader: string | undefined,
  where: string,
): { name: EventName; record: Buffer } {
  if (value.length >= SINGLE_OBJECT_HEADER_SIZE && value[0] === 0xc3 && value[1] === 0x01) {
    const name = eventOfFingerprint(value.subarray(2, SINGLE_OBJECT_HEADER_SIZE));
    if (name === undefined) {
      const fp = value.subarray(2, SINGLE_OBJECT_HEADER_SIZE).toString('hex');
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `decoding the message at ${where}: schema fingerprint ${fp} is not a pidstream event`,
      );
    }
    return { name, record: value.subarray(SINGLE_OBJECT_HEADER_SIZE) };
  }
  if (value.length >= CONFLUENT_HEADER_SIZE && value[0] === CONFLUENT_MAGIC) {
    const name = typeHeader === undefined ? undefined : eventOfKind(typeHeader);
    if (name === undefined) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `decoding the message at ${where}: Confluent-framed without a known ${HEADER_TYPE} header (${String(typeHeader)})`,
      );
    }
    return { name, record: value.subarray(CONFLUENT_HEADER_SIZE) };
  }
  const head = value.subarray(0, 2).toString('hex');
  throw new PidstreamError(
    'PIDSTREAM_ERR_DECODE',
    `decoding the message at ${where}: unknown framing (first bytes ${head}); expected c301 or 00`,
  );
}

/** The `agent` stamp at the head of every record, read without decoding the body. */
export interface Stamp {
  host: string;
  bootId: string;
  instanceId: string;
  seq: number;
  prevDigest: Buffer;
  /** Where the body (starting with `time`) begins. */
  end: number;
}

const DIGEST_BYTES = 32;

/** Avro long at `at`: zig-zag varint. Returns the value and the position after it. */
function readLong(buf: Buffer, at: number, where: string): [number, number] {
  let n = 0;
  let scale = 1;
  let pos = at;
  for (;;) {
    const b = buf[pos++];
    if (b === undefined || pos - at > 10) {
      throw new PidstreamError('PIDSTREAM_ERR_DECODE', `reading a long at byte ${at} of ${where}`);
    }
    n += (b & 0x7f) * scale;
    if (b < 0x80) break;
    scale *= 128;
  }
  return [n % 2 === 0 ? n / 2 : -(n + 1) / 2, pos];
}

function readString(buf: Buffer, at: number, where: string): [string, number] {
  const [length, pos] = readLong(buf, at, where);
  if (length < 0 || pos + length > buf.length) {
    throw new PidstreamError('PIDSTREAM_ERR_DECODE', `reading a string at byte ${at} of ${where}`);
  }
  return [buf.toString('utf8', pos, pos + length), pos + length];
}

/** Decodes the stamp of a full record; `where` names the record in errors. */
export function readStamp(record: Buffer, where = 'a record'): Stamp {
  const [host, a] = readString(record, 0, where);
  const [bootId, b] = readString(record, a, where);
  const [instanceId, c] = readString(record, b, where);
  const [seq, d] = readLong(record, c, where);
  if (d + DIGEST_BYTES > record.length) {
    throw new PidstreamError('PIDSTREAM_ERR_DECODE', `reading prev_digest of ${where}: too short`);
  }
  const prevDigest = record.subarray(d, d + DIGEST_BYTES);
  return { host, bootId, instanceId, seq, prevDigest, end: d + DIGEST_BYTES };
}

/** The event's `time` (wall-clock microseconds), the field right after the stamp in every event. */
export function recordTimeUs(record: Buffer, where = 'a record'): number {
  return readLong(record, readStamp(record, where).end, where)[0];
}
