/**
 * Events as JSON lines: one object per event, `"type"` first ("exit", "coredump", "agent"),
 * then the record's fields in schema order. Longs are numbers, timestamps ISO-8601 strings with
 * microseconds (`2026-12-03T19:26:26.123456Z`), fixed and bytes lowercase hex, enums their
 * symbol, nulls null. The same mapping reads such lines back into Avro records, so `-` works
 * as a source as well as a sink.
 *
 * The conversion is planned once per event schema from the .avsc (which is where the logical
 * types live; the compiled avsc types do not keep them), then applied to each event.
 */
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

import { PidstreamError } from '../common/errors.js';
import type { StampedEvent } from '../ingest/sequencer.js';
import {
  EVENT_KIND,
  EVENT_NAMES,
  type EventName,
  eventType,
  schemaJson,
} from '../schemas/index.js';
import { ISO_MICROS, isoMicros, parseIsoMicros } from './event-time.js';
import type { EventSink, EventSource, ReadEvent } from './types.js';

/** Longest JSON line a source accepts; a pidstream event is a few kilobytes at most. */
export const JSON_LINE_MAX_BYTES = 1024 * 1024;

type Json = Record<string, unknown>;

type Plan =
  | { kind: 'same' }
  | { kind: 'timestamp' }
  | { kind: 'hex' }
  | { kind: 'record'; fields: [string, Plan][] }
  | { kind: 'array'; items: Plan }
  | { kind: 'map'; values: Plan }
  | { kind: 'union'; branches: Plan[] };

const SAME: Plan = { kind: 'same' };
const PRIMITIVES = new Set(['null', 'boolean', 'int', 'long', 'float', 'double', 'string']);

function fullName(name: string, namespace: string): string {
  return name.includes('.') || namespace === '' ? name : `${namespace}.${name}`;
}

/** What converting a value of `schema` takes; SAME when nothing below it changes. */
function planOf(schema: unknown, named: Map<string, Plan>, namespace: string): Plan {
  if (typeof schema === 'string') {
    if (schema === 'bytes') return { kind: 'hex' };
    if (PRIMITIVES.has(schema)) return SAME;
    const plan = named.get(fullName(schema, namespace)) ?? named.get(schema);
    if (plan === undefined) throw new Error(`schema refers to unknown type ${schema}`);
    return plan;
  }
  if (Array.isArray(schema)) {
    const branches = schema.filter((s) => s !== 'null').map((s) => planOf(s, named, namespace));
    return branches.every((b) => b === SAME) ? SAME : { kind: 'union', branches };
  }
  const node = schema as Json;
  const type = node.type;
  const ns = typeof node.namespace === 'string' ? node.namespace : namespace;
  const name = typeof node.name === 'string' ? fullName(node.name, ns) : '';
  switch (type) {
    case 'record':
    case 'error': {
      const inner = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : ns;
      const fields = (node.fields as Json[]).map((f): [string, Plan] => [
        f.name as string,
        planOf(f.type, named, inner),
      ]);
      const plan: Plan = fields.every(([, p]) => p === SAME) ? SAME : { kind: 'record', fields };
      named.set(name, plan);
      return plan;
    }
    case 'enum':
      named.set(name, SAME);
      return SAME;
    case 'fixed':
      named.set(name, { kind: 'hex' });
      return { kind: 'hex' };
    case 'array': {
      const items = planOf(node.items, named, ns);
      return items === SAME ? SAME : { kind: 'array', items };
    }
    case 'map': {
      const values = planOf(node.values, named, ns);
      return values === SAME ? SAME : { kind: 'map', values };
    }
    default:
      if (type === 'long' && node.logicalType === 'timestamp-micros') return { kind: 'timestamp' };
      return planOf(type, named, ns);
  }
}

const plans = new Map<EventName, Plan>();

function planFor(name: EventName): Plan {
  let plan = plans.get(name);
  if (plan === undefined) {
    plan = planOf(schemaJson(name), new Map(), '');
    plans.set(name, plan);
  }
  return plan;
}

/** Whether a value of a union, as decoded or as JSON, belongs to the branch with this plan. */
function fits(plan: Plan, value: unknown): boolean {
  switch (plan.kind) {
    case 'timestamp':
      return typeof value === 'number' || (typeof value === 'string' && ISO_MICROS.test(value));
    case 'hex':
      return (
        Buffer.isBuffer(value) || (typeof value === 'string' && /^([0-9a-f]{2})*$/.test(value))
      );
    case 'array':
      return Array.isArray(value);
    case 'record':
    case 'map':
      return typeof value === 'object' && !Array.isArray(value) && !Buffer.isBuffer(value);
    default:
      return true;
  }
}

function convert(plan: Plan, value: unknown, toJson: boolean): unknown {
  if (plan === SAME || value === null || value === undefined) return value;
  switch (plan.kind) {
    case 'timestamp':
      return toJson ? isoMicros(value as number) : parseIsoMicros(value as string);
    case 'hex':
      return toJson ? (value as Buffer).toString('hex') : Buffer.from(value as string, 'hex');
    case 'record': {
      const record = value as Json;
      const out: Json = {};
      for (const [field, inner] of plan.fields) out[field] = convert(inner, record[field], toJson);
      return out;
    }
    case 'array':
      return (value as unknown[]).map((item) => convert(plan.items, item, toJson));
    case 'map': {
      const out: Json = {};
      for (const [key, item] of Object.entries(value as Json)) {
        out[key] = convert(plan.values, item, toJson);
      }
      return out;
    }
    case 'union': {
      const branch = plan.branches.find((b) => fits(b, value)) ?? SAME;
      return convert(branch, value, toJson);
    }
    default:
      return value;
  }
}

/** An event decoded with `eventType(name)`, as the JSON object of one line. */
export function eventToJson(name: EventName, decoded: unknown): Json {
  return { type: EVENT_KIND[name], ...(convert(planFor(name), decoded, true) as Json) };
}

const NAME_OF_KIND = new Map(EVENT_NAMES.map((name) => [EVENT_KIND[name], name]));

/** The event name of a `type` value, or null for an unknown type. */
export function eventNameOfKind(kind: string): EventName | null {
  return NAME_OF_KIND.get(kind) ?? null;
}

/** One JSON line back to the event's name and full Avro record bytes. */
export function jsonToEvent(line: Json): { name: EventName; bytes: Buffer; timeUs: number } {
  const name = typeof line.type === 'string' ? eventNameOfKind(line.type) : null;
  if (name === null) {
    throw new RangeError(
      `"type" is ${JSON.stringify(line.type)}; expected exit, coredump or agent`,
    );
  }
  const record = convert(planFor(name), line, false) as Json;
  const type = eventType(name);
  const problems: string[] = [];
  if (!type.isValid(record, { errorHook: (path) => problems.push(path.join('.')) })) {
    throw new RangeError(
      `${EVENT_KIND[name]} event has bad or missing fields: ${problems.join(', ')}`,
    );
  }
  return { name, bytes: type.toBuffer(record), timeUs: record.time as number };
}

/** Writes events as JSON lines to a stream (stdout for `-`), waiting when the stream is full. */
export class JsonLinesSink implements EventSink {
  readonly #out: Writable;

  constructor(out: Writable) {
    this.#out = out;
  }

  async write(events: readonly StampedEvent[]): Promise<void> {
    for (const event of events) {
      const json = eventToJson(event.name, eventType(event.name).fromBuffer(event.bytes));
      if (!this.#out.write(`${JSON.stringify(json)}\n`)) await once(this.#out, 'drain');
    }
  }

  async flush(): Promise<void> {}

  /** The stream stays open: stdout belongs to the process, not to the sink. */
  async close(): Promise<void> {}
}

/** Reads JSON lines (standard input for `-`) as events. Blank lines are skipped. */
export class JsonLinesSource implements EventSource {
  readonly #input: Readable;
  readonly #label: string;

  constructor(input: Readable, label = '-') {
    this.#input = input;
    this.#label = label;
  }

  async *events(): AsyncGenerator<ReadEvent> {
    let number = 0;
    for await (const line of createInterface({ input: this.#input, crlfDelay: Infinity })) {
      number++;
      if (line.trim() === '') continue;
      const position = `${this.#label}:${number}`;
      try {
        if (line.length > JSON_LINE_MAX_BYTES) {
          throw new RangeError(`line is longer than ${JSON_LINE_MAX_BYTES} bytes`);
        }
        yield { ...jsonToEvent(JSON.parse(line) as Json), position };
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw new PidstreamError('PIDSTREAM_ERR_DECODE', `reading line ${position}: ${message}`, {
          cause: err,
        });
      }
    }
  }

  async close(): Promise<void> {
    this.#input.destroy();
  }
}
