/**
 * The fleet-scale DDL in deploy/analytics/ stays in step with schemas/avro/: every (nested)
 * field of every event schema has its column in the ClickHouse Kafka table, the MergeTree
 * table and its materialised view, and the ksqlDB stream, and no column names a field the
 * schemas do not have. The DDL text is parsed here; no ClickHouse or ksqlDB runs.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import { describe, expect, it } from 'vitest';

import { columnName } from '../cli/query/columns.js';
import { packageRoot } from '../common/paths.js';
import { EVENT_NAMES, schemaJson, type EventName } from '../schemas/index.js';

type Json = Record<string, unknown>;

const TABLES: Record<EventName, { table: string; stream: string }> = {
  ProcessExit: { table: 'exits', stream: 'pidstream_exits' },
  Coredump: { table: 'coredumps', stream: 'pidstream_coredumps' },
  AgentEvent: { table: 'agent_events', stream: 'pidstream_agent_events' },
};

function ddl(file: string): string {
  return readFileSync(join(packageRoot(), 'deploy', 'analytics', file), 'utf8');
}

// ---- the schemas' field paths, as each system names them ----

function nonNull(type: unknown): { type: unknown; nullable: boolean } {
  return Array.isArray(type) ? { type: type[1], nullable: true } : { type, nullable: false };
}

function asRecord(type: unknown): Json | null {
  return typeof type === 'object' && type !== null && (type as Json).type === 'record'
    ? (type as Json)
    : null;
}

function arrayOfRecords(type: unknown): Json | null {
  if (typeof type !== 'object' || type === null || (type as Json).type !== 'array') return null;
  return asRecord(nonNull((type as Json).items).type);
}

interface Leaf {
  /** Field names from the record's root. */
  path: string[];
  /** Type names of the nullable records on the way (ClickHouse puts them in its paths). */
  unionNames: (string | null)[];
  /** Set for the fields of an array of records: the array's path length. */
  arrayDepth: number | null;
}

function leaves(
  fields: Json[],
  prefix: Leaf = { path: [], unionNames: [], arrayDepth: null },
): Leaf[] {
  const out: Leaf[] = [];
  for (const field of fields) {
    const { type, nullable } = nonNull(field.type);
    const here: Leaf = {
      path: [...prefix.path, field.name as string],
      unionNames: [...prefix.unionNames, null],
      arrayDepth: prefix.arrayDepth,
    };
    const record = asRecord(type);
    const items = arrayOfRecords(type);
    if (record !== null) {
      if (nullable) here.unionNames[here.unionNames.length - 1] = record.name as string;
      out.push(...leaves(record.fields as Json[], here));
    } else if (items !== null) {
      out.push(...leaves(items.fields as Json[], { ...here, arrayDepth: here.path.length }));
    } else {
      out.push(here);
    }
  }
  return out;
}

function schemaLeaves(name: EventName): Leaf[] {
  return leaves(schemaJson(name).fields as Json[]);
}

/** ClickHouse Avro input: `a.b`, with a nullable record's type name after its field. */
function clickhouseQueuePath(leaf: Leaf): string {
  return leaf.path
    .flatMap((p, i) => (leaf.unionNames[i] ? [p, leaf.unionNames[i]] : [p]))
    .join('.');
}

/** MergeTree: `pidstream query`'s column names; an array of records is a Nested column. */
function mergeTreePath(leaf: Leaf): string {
  if (leaf.arrayDepth === null) return columnName(leaf.path);
  return `${columnName(leaf.path.slice(0, leaf.arrayDepth))}.${leaf.path.slice(leaf.arrayDepth).join('.')}`;
}

// ---- the DDL's columns ----

/** Splits `text` at commas outside brackets. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '(' || c === '<') depth++;
    else if (c === ')' || c === '>') depth--;
    else if (c === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

/** The text inside the brackets that open at `open`. */
function bracketed(text: string, open: number): string {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '(' || text[i] === '<') depth++;
    else if (text[i] === ')' || text[i] === '>') {
      depth--;
      if (depth === 0) return text.slice(open + 1, i);
    }
  }
  throw new Error(`unbalanced brackets after ${text.slice(open, open + 40)}`);
}

function splitColumn(definition: string): { name: string; type: string } {
  const match =
    /^`([^`]+)`\s+([\s\S]+)$/.exec(definition) ?? /^(\w+)\s+([\s\S]+)$/.exec(definition);
  if (match === null) throw new Error(`not a column definition: ${definition}`);
  return { name: match[1]!, type: match[2]!.trim() };
}

/** Column paths, with the members of Nested(…), STRUCT<…> and ARRAY<STRUCT<…>> as `a.b`. */
function columnPaths(body: string, prefix = ''): string[] {
  const paths: string[] = [];
  for (const definition of splitTopLevel(body)) {
    const { name, type } = splitColumn(definition);
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const nested = /^(Nested\(|STRUCT<|ARRAY<STRUCT<)/.exec(type);
    if (nested === null) {
      paths.push(path);
      continue;
    }
    const open = type.startsWith('ARRAY<') ? type.indexOf('<', 6) : type.search(/[(<]/);
    paths.push(...columnPaths(bracketed(type, open), path));
  }
  return paths;
}

function statementBody(text: string, header: RegExp): string {
  const match = header.exec(text);
  if (match === null) throw new Error(`no statement matching ${header.source}`);
  return bracketed(text, text.indexOf('(', match.index + match[0].length - 1));
}

function tableColumns(text: string, table: string): string[] {
  return columnPaths(
    statementBody(text, new RegExp(`CREATE TABLE IF NOT EXISTS pidstream\\.${table}\\s*\\(`)),
  );
}

function streamColumns(text: string, stream: string): string[] {
  return columnPaths(statementBody(text, new RegExp(`CREATE STREAM IF NOT EXISTS ${stream} \\(`)));
}

/** `source AS target` pairs of a materialised view's SELECT. */
function viewMapping(text: string, table: string): Map<string, string> {
  const start = text.indexOf(`CREATE MATERIALIZED VIEW IF NOT EXISTS pidstream.${table}_mv`);
  const select = text.slice(text.indexOf('SELECT', start) + 6, text.indexOf('FROM', start));
  const pairs = splitTopLevel(select).map((item) => /^`([^`]+)` AS `([^`]+)`$/.exec(item));
  return new Map(pairs.map((m) => [m![2]!, m![1]!]));
}

function sorted(values: Iterable<string>): string[] {
  return [...values].sort();
}

describe('deploy/analytics DDL in step with the schemas', () => {
  const clickhouse = ddl('clickhouse.sql');
  const ksqldb = ddl('ksqldb.sql');

  for (const name of EVENT_NAMES) {
    const { table, stream } = TABLES[name];

    it(`reads every ${name} field in the ClickHouse Kafka table ${table}_queue`, () => {
      const expected = schemaLeaves(name).map(clickhouseQueuePath);
      expect(sorted(tableColumns(clickhouse, `${table}_queue`))).toEqual(sorted(expected));
    });

    it(`keeps every ${name} field in the MergeTree table ${table}`, () => {
      const expected = schemaLeaves(name).map(mergeTreePath);
      expect(sorted(tableColumns(clickhouse, table))).toEqual(sorted(expected));
    });

    it(`moves every ${name} field from ${table}_queue to ${table} in ${table}_mv`, () => {
      const mapping = [...viewMapping(clickhouse, table)].map(([to, from]) => `${to} <- ${from}`);
      const expected = schemaLeaves(name).map(
        (leaf) => `${mergeTreePath(leaf)} <- ${clickhouseQueuePath(leaf)}`,
      );
      expect(sorted(mapping)).toEqual(sorted(expected));
    });

    it(`declares every ${name} field in the ksqlDB stream ${stream}`, () => {
      const expected = schemaLeaves(name).map((leaf) => leaf.path.join('.'));
      expect(sorted(streamColumns(ksqldb, stream))).toEqual(sorted(expected));
    });
  }

  it('notices a field missing from the DDL', () => {
    const without = clickhouse.replace(/^\s*`cgroup_unit` .*\n/m, '');
    const expected = schemaLeaves('ProcessExit').map(mergeTreePath);
    const present = new Set(tableColumns(without, 'exits'));
    expect(expected.filter((path) => !present.has(path))).toEqual(['cgroup_unit']);
  });
});
