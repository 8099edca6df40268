/**
 * How an event schema becomes the columns of a query table. The plan is derived from the Avro
 * schema itself, so a field added to `schemas/avro/` appears in `pidstream query` without an
 * edit here. Rules:
 *   - nested records are flattened; a column is named by its field path joined with `_`
 *     (`cgroup.unit` → `cgroup_unit`), except that the `agent` stamp's fields keep their own
 *     names (`host`, `boot_id`, `seq`);
 *   - `timestamp-micros` → TIMESTAMP (UTC), `uuid` → UUID, enums → ENUM, arrays → LIST
 *     (arrays of records → LIST of STRUCT), maps → MAP(VARCHAR, VARCHAR);
 *   - `prev_digest` (fixed) is left out: it is unique per event and only `pidstream verify`
 *     needs it.
 * Strings and lists travel through dictionaries (see cli/query/decoder.ts); `group` says which
 * dictionary holds a column.
 */
import { PidstreamError } from '../../common/errors.js';
import { schemaJson, type EventName } from '../../schemas/index.js';

export type LeafKind = 'int' | 'long' | 'timestamp' | 'boolean' | 'enum' | 'string' | 'complex';

export interface Column {
  /** Column name in the query table. */
  name: string;
  /** Avro field path, e.g. `['cgroup', 'unit']`. */
  path: string[];
  kind: LeafKind;
  /** DuckDB type of the column in the final table. */
  sqlType: string;
  /** Enum symbols, in Avro order (the code the decoder reads is the index). */
  symbols: string[];
  /** Dictionary group of a string or complex column; '' for columns stored directly. */
  group: string;
  /** The field's Avro schema, for complex columns read from their dictionary keys. */
  schema: unknown;
}

/** Dictionary groups of string columns. Fields in one group share one dictionary key. */
const IDENTITY_GROUP = 'identity';
const CONTEXT_GROUP = 'context';

/**
 * String fields that are (nearly) unique per event get a dictionary of their own, so they do
 * not multiply the size of the shared context dictionary.
 */
const OWN_DICTIONARY = new Set(['message', 'stored.path', 'stored.sha256']);

/** The query view of each event. */
export const VIEW_OF: Record<EventName, string> = {
  ProcessExit: 'exits',
  Coredump: 'coredumps',
  AgentEvent: 'agent_events',
};

type Json = Record<string, unknown>;

export function columnName(path: readonly string[]): string {
  return (path[0] === 'agent' ? path.slice(1) : path).join('_');
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** The record type inside a nullable union `["null", T]`, or the type itself. */
export function nonNull(type: unknown): { type: unknown; nullable: boolean } {
  if (!Array.isArray(type)) return { type, nullable: false };
  if (type.length !== 2 || type[0] !== 'null') {
    throw new PidstreamError(
      'PIDSTREAM_ERR_SCHEMA',
      `planning query columns: union ${JSON.stringify(type)} is not ["null", T]`,
    );
  }
  return { type: type[1], nullable: true };
}

function sqlTypeOf(schema: unknown): string {
  const { type } = nonNull(schema);
  if (typeof type === 'string') {
    const primitive: Record<string, string> = {
      int: 'INTEGER',
      long: 'BIGINT',
      boolean: 'BOOLEAN',
      string: 'VARCHAR',
      double: 'DOUBLE',
      float: 'FLOAT',
      bytes: 'BLOB',
    };
    const sql = primitive[type];
    if (sql === undefined) throw unsupported(type);
    return sql;
  }
  const node = type as Json;
  if (node.logicalType === 'timestamp-micros') return 'TIMESTAMP';
  if (node.logicalType === 'uuid') return 'UUID';
  switch (node.type) {
    case 'enum':
      return `ENUM(${(node.symbols as string[]).map((s) => `'${s}'`).join(', ')})`;
    case 'array':
      return `${sqlTypeOf(node.items)}[]`;
    case 'map':
      return `MAP(VARCHAR, ${sqlTypeOf(node.values)})`;
    case 'record': {
      const fields = (node.fields as Json[]).map(
        (f) => `${quoteIdent(f.name as string)} ${sqlTypeOf(f.type)}`,
      );
      return `STRUCT(${fields.join(', ')})`;
    }
    default:
      if (typeof node.type === 'string' && node.logicalType === undefined)
        return sqlTypeOf(node.type);
      throw unsupported(JSON.stringify(node));
  }
}

function unsupported(what: string): PidstreamError {
  return new PidstreamError('PIDSTREAM_ERR_SCHEMA', `planning query columns: type ${what}`);
}

function leafKind(type: unknown): LeafKind | 'record' | 'skip' {
  if (typeof type === 'string') {
    if (type === 'int') return 'int';
    if (type === 'long') return 'long';
    if (type === 'boolean') return 'boolean';
    if (type === 'string') return 'string';
    throw unsupported(type);
  }
  const node = type as Json;
  if (node.logicalType === 'timestamp-micros') return 'timestamp';
  if (node.logicalType === 'uuid') return 'string';
  if (node.type === 'record') return 'record';
  if (node.type === 'enum') return 'enum';
  if (node.type === 'fixed') return 'skip';
  if (node.type === 'array' || node.type === 'map') return 'complex';
  if (typeof node.type === 'string') return leafKind(node.type);
  throw unsupported(JSON.stringify(node));
}

function groupOf(kind: LeafKind, path: string[]): string {
  if (kind === 'complex' || OWN_DICTIONARY.has(path.join('.'))) return columnName(path);
  if (kind !== 'string') return '';
  return path[0] === 'agent' || path[0] === 'process' ? IDENTITY_GROUP : CONTEXT_GROUP;
}

const planCache = new Map<EventName, Column[]>();

/** The columns of an event's query table, in schema order. */
export function columnsOf(name: EventName): Column[] {
  const cached = planCache.get(name);
  if (cached !== undefined) return cached;
  const columns: Column[] = [];
  const walk = (fields: Json[], prefix: string[]): void => {
    for (const field of fields) {
      const path = [...prefix, field.name as string];
      const { type } = nonNull(field.type);
      const kind = leafKind(type);
      if (kind === 'skip') continue;
      if (kind === 'record') {
        walk((type as Json).fields as Json[], path);
        continue;
      }
      columns.push({
        name: columnName(path),
        path,
        kind,
        sqlType: sqlTypeOf(field.type),
        symbols: kind === 'enum' ? ((type as Json).symbols as string[]) : [],
        group: groupOf(kind, path),
        schema: field.type,
      });
    }
  };
  walk(schemaJson(name).fields as Json[], []);
  planCache.set(name, columns);
  return columns;
}
