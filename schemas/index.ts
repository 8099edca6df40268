/**
 * The Avro schemas of pidstream's events, compiled once. The `.avsc` files in `schemas/avro/`
 * are the source of truth; every record begins with the `agent` stamp (host, boot, instance,
 * sequence and hash chain) so that the agent can encode a body in a worker thread and prefix
 * the stamp in sequence on the main thread.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import avro from 'avsc';

import { packageRoot } from '../common/paths.js';

export const EVENT_NAMES = ['ProcessExit', 'Coredump', 'AgentEvent'] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/** Kind of event as it appears in JSON output (`type`) and Kafka headers. */
export const EVENT_KIND: Record<EventName, string> = {
  ProcessExit: 'exit',
  Coredump: 'coredump',
  AgentEvent: 'agent',
};

type Json = Record<string, unknown>;

export function schemaPath(name: EventName): string {
  return join(packageRoot(), 'schemas', 'avro', `${name}.avsc`);
}

const schemaCache = new Map<EventName, Json>();

/** The schema as JSON, self-contained (shared named types defined inline). */
export function schemaJson(name: EventName): Json {
  let schema = schemaCache.get(name);
  if (schema === undefined) {
    schema = JSON.parse(readFileSync(schemaPath(name), 'utf8')) as Json;
    schemaCache.set(name, schema);
  }
  return schema;
}

const typeCache = new Map<string, avro.Type>();

function compiled(key: string, build: () => unknown): avro.Type {
  let type = typeCache.get(key);
  if (type === undefined) {
    type = avro.Type.forSchema(build() as avro.Schema, { wrapUnions: false });
    typeCache.set(key, type);
  }
  return type;
}

/** The full event record type. */
export function eventType(name: EventName): avro.Type {
  return compiled(name, () => schemaJson(name));
}

/**
 * The event record without its leading `agent` field. Avro encodes a record as its fields one
 * after another, so `stamp bytes ++ body bytes` is exactly the full record's encoding.
 */
export function bodyType(name: EventName): avro.Type {
  return compiled(`${name}#body`, () => {
    const schema = schemaJson(name);
    const fields = schema.fields as Json[];
    // The body no longer defines the shared named types that lived inside `agent`; none of
    // them (AgentStamp, Sha256) is used elsewhere in a record, so dropping them is safe.
    return { ...schema, name: `${name}Body`, fields: fields.slice(1) };
  });
}

/** The `agent` stamp record. */
export function stampType(): avro.Type {
  return compiled('AgentStamp', () => {
    const fields = schemaJson('ProcessExit').fields as Json[];
    return (fields[0] as Json).type;
  });
}

function withoutRedefinitions(schema: unknown, defined: Set<string>): unknown {
  if (Array.isArray(schema)) return schema.map((s) => withoutRedefinitions(s, defined));
  if (schema === null || typeof schema !== 'object') return schema;
  const node = schema as Json;
  const named = ['record', 'enum', 'fixed'].includes(node.type as string) && 'name' in node;
  if (named) {
    const name = node.name as string;
    const full = name.includes('.') ? name : `io.pidstream.${name}`;
    if (defined.has(full)) return full;
    defined.add(full);
  }
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] = ['type', 'items', 'values', 'fields'].includes(key)
      ? withoutRedefinitions(value, defined)
      : value;
  }
  return out;
}

/** The union `[ProcessExit, Coredump, AgentEvent]`: the schema of pidstream's Avro files. */
export function fileSchemaJson(): unknown[] {
  const defined = new Set<string>();
  return EVENT_NAMES.map((name) => withoutRedefinitions(schemaJson(name), defined));
}

/** Index of each event in the file union: the Avro branch number written before its record. */
export const UNION_INDEX: Record<EventName, number> = {
  ProcessExit: 0,
  Coredump: 1,
  AgentEvent: 2,
};

export function eventNameOfRecord(fullName: string): EventName {
  const short = fullName.slice(fullName.lastIndexOf('.') + 1);
  if ((EVENT_NAMES as readonly string[]).includes(short)) return short as EventName;
  throw new Error(`not a pidstream event record: ${fullName}`);
}
