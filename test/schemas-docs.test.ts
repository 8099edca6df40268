/** docs/events.md describes every field of ProcessExit and AgentEvent: this keeps it in step. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { packageRoot } from '../common/paths.js';
import { schemaJson } from '../schemas/index.js';

type Json = Record<string, unknown>;

/** Dotted paths of every field, descending into records (directly or inside a union). */
function fieldPaths(fields: Json[], prefix: string, out: string[] = []): string[] {
  for (const field of fields) {
    const path = `${prefix}${String(field.name)}`;
    out.push(path);
    const types = Array.isArray(field.type) ? field.type : [field.type];
    const record = types.find((t): t is Json => (t as Json | null)?.type === 'record');
    if (record !== undefined) fieldPaths(record.fields as Json[], `${path}.`, out);
  }
  return out;
}

const doc = readFileSync(join(packageRoot(), 'docs', 'events.md'), 'utf8');

describe.each(['ProcessExit', 'AgentEvent'] as const)('docs/events.md on %s', (name) => {
  it('has a table row for every field', () => {
    const missing = fieldPaths(schemaJson(name).fields as Json[], '').filter(
      (path) => !doc.includes(`| \`${path}\``),
    );
    expect(missing).toEqual([]);
  });
});
