/**
 * Moves decoded columns into DuckDB. Numbers go in whole chunks: one memory copy per column per
 * 2,048 rows (DuckDB's own vector layout). Strings would cost one native call each, measured at
 * about 350 ns on the project's machine, so they go through dictionaries instead: the staging
 * table holds a dictionary id per group, each distinct group value is appended once, and the
 * final table is built by joining the two inside DuckDB, where it runs in parallel.
 */
import duckdb from '@duckdb/node-bindings';
import {
  BIGINT,
  BOOLEAN,
  DuckDBAppender,
  DuckDBConnection,
  DuckDBDataChunk,
  DuckDBType,
  ENUM,
  INTEGER,
  TIMESTAMP,
  UINTEGER,
} from '@duckdb/node-api';

import { PidstreamError } from '../../common/errors.js';
import type { EventName } from '../../schemas/index.js';
import { quoteIdent, VIEW_OF, type Column } from './columns.js';
import { CHUNK_ROWS } from './chunk-buffers.js';
import { EventDecoder, readVarint, type GroupDictionary } from './decoder.js';

/** Schema holding the loaded tables; the views in `main` read them. */
export const STORE_SCHEMA = 'pidstream_events';

function stagingType(column: Column): DuckDBType {
  switch (column.kind) {
    case 'int':
      return INTEGER;
    case 'long':
      return BIGINT;
    case 'timestamp':
      return TIMESTAMP;
    case 'boolean':
      return BOOLEAN;
    case 'enum':
      return ENUM(column.symbols);
    default:
      throw new Error(`column ${column.name} of kind ${column.kind} is not stored directly`);
  }
}

interface Dictionary {
  group: GroupDictionary;
  table: string;
  appender: DuckDBAppender;
}

/** Loads one event type: decoder, staging table, dictionaries, and the final table. */
export class TableStage {
  readonly name: EventName;
  readonly decoder: EventDecoder;
  readonly #connection: DuckDBConnection;
  readonly #stagingTable: string;
  readonly #chunk: DuckDBDataChunk;
  readonly #appender: DuckDBAppender;
  readonly #dictionaries: Dictionary[];

  private constructor(
    name: EventName,
    connection: DuckDBConnection,
    parts: {
      decoder: EventDecoder;
      chunk: DuckDBDataChunk;
      appender: DuckDBAppender;
      dictionaries: Dictionary[];
    },
  ) {
    this.name = name;
    this.decoder = parts.decoder;
    this.#connection = connection;
    this.#stagingTable = `_stage_${VIEW_OF[name]}`;
    this.#chunk = parts.chunk;
    this.#appender = parts.appender;
    this.#dictionaries = parts.dictionaries;
  }

  static async create(name: EventName, connection: DuckDBConnection): Promise<TableStage> {
    const decoder = new EventDecoder(name);
    const view = VIEW_OF[name];
    const types = [...decoder.direct.map(stagingType), ...decoder.groups.map(() => UINTEGER)];
    const columns = types.map((t, i) => `c${i} ${t.toString()}`);
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${STORE_SCHEMA}`);
    await connection.run(
      `CREATE OR REPLACE TABLE ${STORE_SCHEMA}._stage_${view} (${columns.join(', ')})`,
    );
    const dictionaries: Dictionary[] = [];
    for (const [g, group] of decoder.groups.entries()) {
      const table = `_dict_${view}_${g}`;
      const members = group.members.map((_, m) => `m${m} VARCHAR`);
      await connection.run(
        `CREATE OR REPLACE TABLE ${STORE_SCHEMA}.${table} (id UINTEGER, ${members.join(', ')})`,
      );
      dictionaries.push({
        group,
        table,
        appender: await connection.createAppender(table, STORE_SCHEMA),
      });
    }
    return new TableStage(name, connection, {
      decoder,
      chunk: DuckDBDataChunk.create(types, CHUNK_ROWS),
      appender: await connection.createAppender(`_stage_${view}`, STORE_SCHEMA),
      dictionaries,
    });
  }

  /** Decodes the event record at `buf[pos]`, hands a full chunk to DuckDB; returns its end. */
  addAt(buf: Buffer, pos: number): number {
    const end = this.decoder.decodeAt(buf, pos);
    if (this.decoder.full) this.flushChunk();
    return end;
  }

  flushChunk(): void {
    const buffers = this.decoder.buffers;
    const rows = buffers.rows;
    if (rows === 0) return;
    const raw = this.#chunk.chunk;
    for (const [i, column] of buffers.columns.entries()) {
      const vector = duckdb.data_chunk_get_vector(raw, i);
      duckdb.copy_data_to_vector(vector, 0, column.data, 0, rows * column.bytesPerRow);
      duckdb.vector_ensure_validity_writable(vector);
      duckdb.copy_data_to_vector_validity(
        vector,
        0,
        column.validity.buffer,
        0,
        column.validity.length,
      );
    }
    this.#chunk.rowCount = rows;
    this.#appender.appendDataChunk(this.#chunk);
    buffers.reset();
    for (const dictionary of this.#dictionaries) drain(dictionary);
  }

  /** Builds the final table from the staging table and its dictionaries, then drops them. */
  async finish(): Promise<number> {
    this.flushChunk();
    this.#appender.closeSync();
    for (const dictionary of this.#dictionaries) dictionary.appender.closeSync();
    const view = VIEW_OF[this.name];
    const decoder = this.decoder;
    const select: string[] = [];
    for (const column of decoder.columns) {
      if (column.group === '') {
        select.push(`s.c${decoder.direct.indexOf(column)} AS ${quoteIdent(column.name)}`);
        continue;
      }
      const g = decoder.groups.findIndex((group) => group.members.includes(column));
      const m = decoder.groups[g]!.members.indexOf(column);
      select.push(`g${g}.m${m} AS ${quoteIdent(column.name)}`);
    }
    const joins = this.#dictionaries.map((dictionary, g) => {
      const members = dictionary.group.members.map((member, m) => {
        const cast =
          member.kind === 'complex'
            ? `::JSON::${member.sqlType}`
            : member.sqlType === 'VARCHAR'
              ? ''
              : `::${member.sqlType}`;
        return `m${m}${cast} AS m${m}`;
      });
      const dict = `(SELECT id, ${members.join(', ')} FROM ${STORE_SCHEMA}.${dictionary.table})`;
      return `LEFT JOIN ${dict} g${g} ON g${g}.id = s.c${decoder.direct.length + g}`;
    });
    await this.#connection.run(
      `CREATE OR REPLACE TABLE ${STORE_SCHEMA}.${view} AS SELECT ${select.join(', ')} ` +
        `FROM ${STORE_SCHEMA}.${this.#stagingTable} s ${joins.join(' ')}`,
    );
    await this.#connection.run(`DROP TABLE ${STORE_SCHEMA}.${this.#stagingTable}`);
    for (const dictionary of this.#dictionaries) {
      await this.#connection.run(`DROP TABLE ${STORE_SCHEMA}.${dictionary.table}`);
    }
    return decoder.rows;
  }
}

/** Appends the dictionary values first seen in the last chunk, decoded from their raw keys. */
function drain(dictionary: Dictionary): void {
  const { group, appender } = dictionary;
  if (group.pending.length === 0) return;
  let id = group.size - group.pending.length;
  for (const key of group.pending) {
    appender.appendUInteger(id++);
    let pos = 0;
    for (const member of group.members) {
      const present = key[pos++] === 1;
      if (!present) {
        appender.appendNull();
        continue;
      }
      if (member.kind === 'complex') {
        const decoded = member.avroType!.decode(key, pos);
        if (decoded.offset < 0) throw truncatedKey(member);
        pos = decoded.offset;
        appender.appendVarchar(JSON.stringify(decoded.value));
        continue;
      }
      const length = readVarint(key, pos);
      pos = length.end + length.value;
      appender.appendVarchar(key.toString('utf8', length.end, pos));
    }
    appender.endRow();
  }
  group.pending = [];
}

function truncatedKey(member: Column): PidstreamError {
  return new PidstreamError(
    'PIDSTREAM_ERR_DECODE',
    `loading events into DuckDB: the value of ${member.path.join('.')} ends early`,
  );
}
