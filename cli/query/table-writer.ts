/**
 * Writes decoded chunks into an event type's final table: no staging table and no join
 * afterwards.
 *
 * Numbers arrive laid out as DuckDB's vectors and go in with one copy per column per chunk.
 * Strings, UUIDs and lists arrive as dictionary ids (decoder.ts); each key is turned into its
 * members' vector values once, when it is first seen: a string's 16-byte `string_t`
 * (string-heap.ts), a UUID's 128-bit integer, a list's elements (list-column.ts). A chunk's id
 * column then becomes each member's vector by copying those values row by row. An earlier
 * design appended the ids to a staging table and built the final table with one SQL join per
 * dictionary; on the benchmark that join and the second copy of every row cost DuckDB about as
 * much CPU as the decoding (docs/query.md has the figures).
 *
 * Chunks are queued and written by an `INSERT … SELECT` from a table function that hands
 * DuckDB queued chunks, filled on this thread as DuckDB asks for them, until the queue is empty
 * when it asks: while the decoders keep up, one insert takes the whole load, and when it falls
 * behind them a second one shares the queue. The insert itself (statistics, string storage)
 * runs on the thread that executes the query, not on this one: an appender did all of it here,
 * about 1.7 µs of this thread per benchmark event, more than one core allows at the target rate
 * alongside the decoders. Rows keep no order.
 *
 * Dictionary ids are per decoder, so the writer keeps the values of each decoder's keys apart:
 * `source` names the decoder (the main thread's, or a decode worker's).
 */
import duckdb from '@duckdb/node-bindings';
import {
  DuckDBConnection,
  DuckDBInstance,
  DuckDBTableFunction,
  VARCHAR,
  type DuckDBDataChunk,
  type DuckDBTableFunctionInfo,
  type DuckDBType,
} from '@duckdb/node-api';

import { PidstreamError } from '../../common/errors.js';
import { CHUNK_ROWS, VALIDITY_BYTES } from './chunk-layout.js';
import { quoteIdent, VIEW_OF, type Column } from './columns.js';
import type { DecodedChunk, DecodedKeys, EventPlan } from './decoder.js';
import { ListColumn, type ListValue } from './list-column.js';
import { StringHeap } from './string-heap.js';
import { writeUuid } from './uuid-words.js';

/** Schema holding the loaded tables; the views in `main` read them. */
export const STORE_SCHEMA = 'pidstream_events';

/** Keys of a table when it is made, and the factor it grows by. */
const INITIAL_KEYS = 256;
/**
 * Rows queued before an insert starts: an insert that ends with a row group of DuckDB's
 * (122,880 rows) full or more is merged into the table whole; a smaller one is copied again.
 */
const START_ROWS = 64 * CHUNK_ROWS;
/**
 * Rows queued beyond which decoding waits for the insert: small, since what is queued when
 * the decoders finish is inserted by one thread while the others have nothing to do.
 */
const MAX_QUEUED_ROWS = 96 * CHUNK_ROWS;
/** Inserts that may share one table's queue. */
const INSERTERS = 2;
/** The table function that hands queued chunks to DuckDB; its argument names the writer. */
const SCAN_FUNCTION = 'pidstream_queued_chunks';

/** How one column of the final table is filled from a chunk. */
type Filler =
  | { kind: 'direct'; index: number }
  | { kind: 'words'; group: number; member: number }
  | { kind: 'list'; group: number; member: number; list: ListColumn };

/** The values of one decoder's keys of one group, by id. */
class KeyTable {
  readonly width: number;
  /** Four words per member per key: a string's `string_t`, a UUID, or a list's template. */
  words: Int32Array;
  /** One byte per member per key: 1 when the member is NULL. */
  nulls: Uint8Array;
  count = 0;
  readonly hasNull: boolean[];
  readonly heap = new StringHeap();
  /** Per list member: its distinct values, indexed by the template number in `words`. */
  readonly lists: ListValue[][];

  constructor(width: number) {
    this.width = width;
    this.words = new Int32Array(INITIAL_KEYS * width * 4);
    this.nulls = new Uint8Array(INITIAL_KEYS * width);
    this.hasNull = Array<boolean>(width).fill(false);
    this.lists = Array.from({ length: width }, () => []);
  }

  reserve(keys: number): void {
    if (keys * this.width <= this.nulls.length) return;
    let capacity = this.nulls.length / this.width;
    while (capacity < keys) capacity *= 2;
    const words = new Int32Array(capacity * this.width * 4);
    words.set(this.words);
    const nulls = new Uint8Array(capacity * this.width);
    nulls.set(this.nulls);
    this.words = words;
    this.nulls = nulls;
  }
}

function readLength(key: Uint8Array, pos: number): { value: number; end: number } {
  let n = 0;
  let factor = 1;
  let b: number;
  do {
    if (pos >= key.length) throw new RangeError('a length runs past its key');
    b = key[pos++]!;
    n += (b & 0x7f) * factor;
    factor *= 128;
  } while (b & 0x80);
  return { value: n % 2 === 0 ? n / 2 : -(n + 1) / 2, end: pos };
}

/** A chunk waiting for the insert, with the key tables it was decoded against. */
interface Queued {
  chunk: DecodedChunk;
  tables: KeyTable[];
}

/**
 * The writers of every load in this process, by the token their inserts pass to the table
 * function. DuckDB keeps functions in the database's catalog, so the function is registered
 * once per instance and finds its writer here.
 */
const writers = new Map<string, TableWriter>();
const registered = new WeakSet<DuckDBInstance>();
let tokens = 0;

function registerQueueFunction(instance: DuckDBInstance, connection: DuckDBConnection): void {
  if (registered.has(instance)) return;
  connection.registerTableFunction(
    DuckDBTableFunction.create({
      name: SCAN_FUNCTION,
      parameterTypes: [VARCHAR],
      bindFunction: (info) => {
        const writer = writers.get(String(info.getParameter(0)));
        if (writer === undefined) {
          info.setError(`${SCAN_FUNCTION}: no table is being loaded under that name`);
          return;
        }
        writer.describe((name, type) => info.addResultColumn(name, type));
        info.setBindData({ writer });
      },
      // One thread: the load runs with DuckDB's `threads` at 1 (load.ts).
      initFunction: () => undefined,
      mainFunction: (info, output) => {
        const { writer } = info.bindData as { writer: TableWriter };
        writer.nextChunk(info, output);
      },
    }),
  );
  registered.add(instance);
}

export class TableWriter {
  readonly plan: EventPlan;
  readonly table: string;
  readonly #token = `${process.pid}:${++tokens}`;
  /** Every insert of this writer: the stored table, filled from this writer's scan. */
  readonly #insertSql: string;
  /** Connections with no insert running. */
  readonly #idle: DuckDBConnection[];
  readonly #connections: DuckDBConnection[];
  readonly #types: DuckDBType[];
  readonly #fillers: Filler[];
  readonly #lists = new Map<Column, ListColumn>();
  /** Per source, per group. */
  readonly #keys = new Map<number, KeyTable[]>();
  /** One column's rows of 16-byte values, and of list templates, before the copy. */
  readonly #words = new Int32Array(CHUNK_ROWS * 4);
  readonly #templates = new Int32Array(CHUNK_ROWS);
  readonly #mask = new Uint8Array(VALIDITY_BYTES);
  /** Chunks waiting for the insert, from `#head` on. */
  #queued: Queued[] = [];
  #head = 0;
  #queuedRows = 0;
  /** Key tables of the chunks the running insert was handed: their strings must outlive it. */
  #inserting = new Set<KeyTable[]>();
  readonly #running = new Set<Promise<void>>();
  /** Calls waiting for the queue to shrink below MAX_QUEUED_ROWS. */
  #waiting: (() => void)[] = [];
  #failure: unknown = undefined;
  #rows = 0;

  private constructor(
    plan: EventPlan,
    connections: DuckDBConnection[],
    parts: { types: DuckDBType[]; fillers: Filler[] },
  ) {
    this.plan = plan;
    this.table = VIEW_OF[plan.name];
    this.#insertSql =
      `INSERT INTO ${STORE_SCHEMA}.${quoteIdent(this.table)} ` +
      `SELECT * FROM ${SCAN_FUNCTION}('${this.#token}')`;
    this.#connections = connections;
    this.#idle = [...connections];
    this.#types = parts.types;
    this.#fillers = parts.fillers;
    for (const filler of parts.fillers) {
      if (filler.kind === 'list') this.#lists.set(filler.list.column, filler.list);
    }
  }

  /**
   * Makes the (empty) final table of `plan`'s event type. The writer inserts through
   * connections of its own, so the inserts of several tables, and two of one, can run at once.
   */
  static async create(
    instance: DuckDBInstance,
    connection: DuckDBConnection,
    plan: EventPlan,
  ): Promise<TableWriter> {
    const table = `${STORE_SCHEMA}.${VIEW_OF[plan.name]}`;
    const columns = plan.columns.map((c) => `${quoteIdent(c.name)} ${c.sqlType}`);
    await connection.run(`CREATE SCHEMA IF NOT EXISTS ${STORE_SCHEMA}`);
    await connection.run(`CREATE OR REPLACE TABLE ${table} (${columns.join(', ')})`);
    const types = (await connection.run(`SELECT * FROM ${table} LIMIT 0`)).columnTypes();
    const fillers = plan.columns.map((column): Filler => {
      if (column.group === '') return { kind: 'direct', index: plan.direct.indexOf(column) };
      const group = plan.groups.findIndex((members) => members.includes(column));
      const member = plan.groups[group]!.indexOf(column);
      if (column.kind !== 'complex') return { kind: 'words', group, member };
      return { kind: 'list', group, member, list: new ListColumn(column, column.schema) };
    });
    const own: DuckDBConnection[] = [];
    for (let i = 0; i < INSERTERS; i++) own.push(await instance.connect());
    registerQueueFunction(instance, own[0]!);
    const writer = new TableWriter(plan, own, { types, fillers });
    writers.set(writer.#token, writer);
    return writer;
  }

  #tables(source: number): KeyTable[] {
    let tables = this.#keys.get(source);
    if (tables === undefined) {
      tables = this.plan.groups.map((members) => new KeyTable(members.length));
      this.#keys.set(source, tables);
    }
    return tables;
  }

  /** Takes in the keys a decoder saw for the first time; chunks that use them come after. */
  addKeys(source: number, batch: DecodedKeys): void {
    const table = this.#tables(source)[batch.group]!;
    const members = this.plan.groups[batch.group]!;
    const { lengths, bytes } = batch;
    table.reserve(batch.first + lengths.length);
    let start = 0;
    for (let k = 0; k < lengths.length; k++) {
      const key = bytes.subarray(start, start + lengths[k]!);
      start += lengths[k]!;
      this.#addKey(table, (batch.first + k) * members.length, members, key);
    }
    table.heap.settle();
    table.count = batch.first + lengths.length;
  }

  #addKey(table: KeyTable, slot: number, members: Column[], key: Uint8Array): void {
    let pos = 0;
    for (let m = 0; m < members.length; m++) {
      const member = members[m]!;
      const at = (slot + m) * 4;
      if (key[pos++] !== 1) {
        table.nulls[slot + m] = 1;
        table.hasNull[m] = true;
        continue;
      }
      table.nulls[slot + m] = 0;
      try {
        const list = this.#lists.get(member);
        if (list !== undefined) {
          const read = list.read(key, pos, table.heap);
          table.words[at] = table.lists[m]!.push(read.value) - 1;
          pos = read.end;
          continue;
        }
        const length = readLength(key, pos);
        pos = length.end + length.value;
        const text = key.subarray(length.end, pos);
        if (member.sqlType !== 'UUID') {
          table.heap.add(text, table.words, at);
        } else if (!writeUuid(text, table.words, at)) {
          throw new RangeError(`'${Buffer.from(text).toString()}' is not a UUID`);
        }
      } catch (err) {
        throw new PidstreamError(
          'PIDSTREAM_ERR_DECODE',
          `loading ${this.table}: ${member.path.join('.')}: ${(err as Error).message}`,
          { cause: err },
        );
      }
    }
  }

  /**
   * Forgets the keys of a decoder's dictionary that started again from id 0. Chunks already
   * queued keep the table they were decoded against, and with it the memory of its strings.
   */
  resetKeys(source: number, group: number): void {
    this.#tables(source)[group] = new KeyTable(this.plan.groups[group]!.length);
  }

  /** Queues a chunk a decoder filled (its keys were added before); starts an insert when due. */
  queue(source: number, chunk: DecodedChunk): void {
    this.#throwFailure();
    this.#queued.push({ chunk, tables: [...this.#tables(source)] });
    this.#queuedRows += chunk.rows;
    if (this.#running.size === 0 && this.#queuedRows >= START_ROWS) this.#startInsert();
  }

  /**
   * Resolves once fewer than MAX_QUEUED_ROWS rows wait for the inserts. While they wait, one
   * insert has fallen behind the decoders: a second one shares the queue.
   */
  async room(): Promise<void> {
    while (this.#queuedRows >= MAX_QUEUED_ROWS) {
      if (this.#idle.length > 0) this.#startInsert();
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
      this.#throwFailure();
    }
  }

  /**
   * One `INSERT … SELECT` from the queue function, which hands DuckDB queued chunks until the
   * queue is empty when DuckDB asks for the next.
   */
  #startInsert(): void {
    const connection = this.#idle.pop();
    if (connection === undefined) return;
    const ended = (err?: unknown): void => {
      this.#running.delete(running);
      this.#idle.push(connection);
      if (this.#running.size === 0) this.#inserting = new Set();
      if (err !== undefined) this.#failure ??= err;
      this.#wake();
      if (err === undefined && this.#running.size === 0 && this.#queuedRows >= START_ROWS) {
        this.#startInsert();
      }
    };
    const running: Promise<void> = connection.run(this.#insertSql).then(
      () => ended(),
      (err: unknown) => ended(err),
    );
    this.#running.add(running);
  }

  #wake(): void {
    const waiting = this.#waiting;
    this.#waiting = [];
    for (const resolve of waiting) resolve();
  }

  /** The table's columns, for the queue function's bind. */
  describe(addColumn: (name: string, type: DuckDBType) => void): void {
    this.plan.columns.forEach((column, i) => addColumn(column.name, this.#types[i]!));
  }

  /** Called by DuckDB's insert, on this thread: the next queued chunk, or none to end. */
  nextChunk(info: DuckDBTableFunctionInfo, output: DuckDBDataChunk): void {
    const queued = this.#queued[this.#head];
    if (queued === undefined) {
      output.rowCount = 0;
      return;
    }
    this.#queued[this.#head++] = undefined as unknown as Queued;
    if (this.#head === this.#queued.length) {
      this.#queued = [];
      this.#head = 0;
    }
    this.#queuedRows -= queued.chunk.rows;
    this.#inserting.add(queued.tables);
    if (this.#queuedRows < MAX_QUEUED_ROWS && this.#waiting.length > 0) this.#wake();
    try {
      output.rowCount = queued.chunk.rows;
      this.#fill(output, queued);
      this.#rows += queued.chunk.rows;
    } catch (err) {
      info.setError(err instanceof Error ? err.message : String(err));
    }
  }

  /** Fills DuckDB's chunk `output` with a decoded chunk. */
  #fill(output: DuckDBDataChunk, queued: Queued): void {
    const { rows, buffer } = queued.chunk;
    const layout = this.plan.layout;
    const flags = new Uint8Array(buffer, layout.nullFlagsOffset, layout.rowBytes.length);
    for (let c = 0; c < this.#fillers.length; c++) {
      const filler = this.#fillers[c]!;
      const vector = duckdb.data_chunk_get_vector(output.chunk, c);
      if (filler.kind === 'direct') {
        const i = filler.index;
        const size = layout.rowBytes[i]!;
        duckdb.copy_data_to_vector(vector, 0, buffer, layout.dataOffset[i]!, rows * size);
        if (flags[i] !== 1) continue;
        duckdb.vector_ensure_validity_writable(vector);
        duckdb.copy_data_to_vector_validity(
          vector,
          0,
          buffer,
          layout.validityOffset[i]!,
          VALIDITY_BYTES,
        );
        continue;
      }
      const ids = new Uint32Array(buffer, layout.idOffset[filler.group]!, rows);
      const table = queued.tables[filler.group]!;
      if (filler.kind === 'words') {
        this.#expandWords(table, filler.member, ids, vector);
      } else {
        this.#expandList(table, filler, ids, vector);
      }
    }
  }

  /** Writes what is still queued and waits for it; returns the rows written. */
  async finish(): Promise<number> {
    while (this.#running.size > 0 || this.#queuedRows > 0) {
      if (this.#running.size === 0) this.#startInsert();
      await Promise.all([...this.#running]);
      this.#throwFailure();
    }
    writers.delete(this.#token);
    for (const connection of this.#connections) connection.closeSync();
    return this.#rows;
  }

  #throwFailure(): void {
    if (this.#failure === undefined) return;
    const err = this.#failure;
    throw new PidstreamError(
      'PIDSTREAM_ERR_QUERY',
      `loading events into ${this.table}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }

  /** Each row's 16 bytes, copied from its key's member. */
  #expandWords(table: KeyTable, member: number, ids: Uint32Array, vector: duckdb.Vector): void {
    const words = table.words;
    const out = this.#words;
    const stride = table.width * 4;
    const rows = ids.length;
    for (let r = 0, o = 0; r < rows; r++, o += 4) {
      const at = ids[r]! * stride + member * 4;
      out[o] = words[at]!;
      out[o + 1] = words[at + 1]!;
      out[o + 2] = words[at + 2]!;
      out[o + 3] = words[at + 3]!;
    }
    duckdb.copy_data_to_vector(vector, 0, out.buffer, 0, rows * 16);
    if (table.hasNull[member]) this.#copyNulls(table, member, ids, vector);
  }

  #expandList(
    table: KeyTable,
    filler: Extract<Filler, { kind: 'list' }>,
    ids: Uint32Array,
    vector: duckdb.Vector,
  ): void {
    const { member, list } = filler;
    const templates = this.#templates;
    const stride = table.width;
    for (let r = 0; r < ids.length; r++) {
      const slot = ids[r]! * stride + member;
      templates[r] = table.nulls[slot] === 1 ? -1 : table.words[slot * 4]!;
    }
    if (table.hasNull[member]) this.#copyNulls(table, member, ids, vector);
    list.fill(vector, ids.length, templates, table.lists[member]!);
  }

  /** The validity of a member some of whose keys are NULL. */
  #copyNulls(table: KeyTable, member: number, ids: Uint32Array, vector: duckdb.Vector): void {
    const mask = this.#mask.fill(0xff);
    const stride = table.width;
    let any = false;
    for (let r = 0; r < ids.length; r++) {
      if (table.nulls[ids[r]! * stride + member] !== 1) continue;
      mask[r >> 3]! &= ~(1 << (r & 7));
      any = true;
    }
    if (!any) return;
    duckdb.vector_ensure_validity_writable(vector);
    duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer, 0, VALIDITY_BYTES);
  }
}
