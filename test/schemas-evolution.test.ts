/**
 * The event schemas evolve so that old and new readers understand each other: every released
 * version kept in schemas/history/<Name>/vN.avsc and the current schemas/avro/<Name>.avsc must
 * resolve against one another in both directions (a new field needs a default; a removed field
 * must have had one; enum symbols are only added with a default symbol). Every field says what
 * it holds in a `doc`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import avro from 'avsc';
import { describe, expect, it } from 'vitest';

import { packageRoot } from '../common/paths.js';
import { EVENT_NAMES, schemaJson } from '../schemas/index.js';

type Json = Record<string, unknown>;

const HISTORY = join(packageRoot(), 'schemas', 'history');

function versions(name: string): { label: string; schema: Json }[] {
  const files = readdirSync(join(HISTORY, name))
    .filter((f) => /^v\d+\.avsc$/.test(f))
    .sort((a, b) => Number(a.slice(1, -5)) - Number(b.slice(1, -5)));
  return files.map((file) => ({
    label: `${name}/${file}`,
    schema: JSON.parse(readFileSync(join(HISTORY, name, file), 'utf8')) as Json,
  }));
}

function compile(schema: Json): avro.Type {
  return avro.Type.forSchema(schema as avro.Schema, { wrapUnions: false });
}

/** Fields without a non-empty doc, as dotted paths, anywhere in the schema. */
function undocumented(schema: unknown, path: string, out: string[] = []): string[] {
  if (Array.isArray(schema)) {
    for (const branch of schema) undocumented(branch, path, out);
    return out;
  }
  if (schema === null || typeof schema !== 'object') return out;
  const node = schema as Json;
  if (node.type === 'record') {
    for (const field of node.fields as Json[]) {
      const at = `${path}.${String(field.name)}`;
      if (typeof field.doc !== 'string' || field.doc.trim() === '') out.push(at);
      undocumented(field.type, at, out);
    }
  }
  undocumented(node.items, path, out);
  undocumented(node.values, path, out);
  if (typeof node.type === 'object') undocumented(node.type, path, out);
  return out;
}

describe.each(EVENT_NAMES)('schema %s', (name) => {
  const history = versions(name);
  const all = [...history, { label: `${name} (current)`, schema: schemaJson(name) }];

  it('has a released first version in schemas/history', () => {
    expect(history[0]?.label).toBe(`${name}/v1.avsc`);
  });

  it('is readable by every version and can read every version', () => {
    for (const writer of all) {
      for (const reader of all) {
        const resolve = () => compile(reader.schema).createResolver(compile(writer.schema));
        expect(resolve, `${reader.label} reading ${writer.label}`).not.toThrow();
      }
    }
  });

  it('documents every field of every version', () => {
    for (const { label, schema } of all) {
      expect(undocumented(schema, name), label).toEqual([]);
    }
  });
});

describe('the compatibility check', () => {
  const current = schemaJson('AgentEvent');
  const fields = current.fields as Json[];

  it('refuses a new field without a default, which old events cannot fill', () => {
    const next = { ...current, fields: [...fields, { name: 'region', type: 'string', doc: 'x' }] };
    expect(() => compile(next).createResolver(compile(current))).toThrow(/region/);
  });

  it('accepts a new field with a default, in both directions', () => {
    const field = { name: 'region', type: ['null', 'string'], default: null, doc: 'x' };
    const next = { ...current, fields: [...fields, field] };
    expect(() => compile(next).createResolver(compile(current))).not.toThrow();
    expect(() => compile(current).createResolver(compile(next))).not.toThrow();
  });
});
