/**
 * Decodes event records into DuckDB-shaped chunks (chunk-layout.ts) with the WebAssembly
 * decoder of `assembly/`. Each event schema is compiled here, once, into a program of fixed
 * four-word ops that the module runs over every record; strings and lists never become
 * JavaScript values on the way: each group of them becomes a dictionary id (columns.ts names
 * the groups), and only a key seen for the first time is handed on, as its raw bytes.
 *
 * On the project's 2-core machine the JavaScript decoder this replaced spent about 2.3 µs of CPU
 * per benchmark event on decoding and dictionary keys, the byte-by-byte hash and the compare of
 * each key being most of it; the module does both on 8-byte words (docs/query.md has the
 * figures). A decoder is used by one thread; its dictionaries live as long as it does, so a key
 * crosses to the table writer once per decoder.
 *
 * The reader schema is the current schema of `schemas/avro/`: events written with another
 * version must be resolved before they reach this decoder.
 */
import { readFileSync } from 'node:fs';

import { PidstreamError } from '../../common/errors.js';
import { distFile } from '../../common/paths.js';
import { EVENT_NAMES, schemaJson, type EventName } from '../../schemas/index.js';
import { chunkLayout, type ChunkLayout } from './chunk-layout.js';
import { columnsOf, nonNull, type Column } from './columns.js';

export const DECODER_WASM_PATH = distFile('cli/query/decoder.wasm');

/**
 * Keys one dictionary may hold, and the bytes they may take, before it starts again from id 0
 * (a `KeyReset`): bounds the memory a load of nearly unique values holds, here and in the
 * table writer, at the cost of decoding a value again when it comes back after a reset.
 */
export const DICTIONARY_MAX_KEYS = 262_144;
export const DICTIONARY_MAX_BYTES = 32 * 1024 * 1024;

// The module's ops and type-tree nodes (assembly/index.ts has their operands).
const OP_END = 0;
const OP_INT = 1;
const OP_LONG = 2;
const OP_BOOLEAN = 3;
const OP_ENUM = 4;
const OP_STRING = 5;
const OP_COMPLEX = 6;
const OP_FIXED = 7;
const OP_RECORD = 8;
const FLAG_NULLABLE = 1;
const FLAG_VALIDITY = 2;
const NULL_COLUMN = 0;
const NULL_MEMBER = 1;
const T_VARINT = 0;
const T_BOOLEAN = 1;
const T_BYTES = 2;
const T_FIXED = 3;
const T_RECORD = 4;
const T_ARRAY = 5;
const T_MAP = 6;
const T_NULLABLE = 7;
const T_FLOAT = 8;
const T_DOUBLE = 9;

const STATUS_DONE = 0;
const STATUS_FULL = 1;

/** What the module's negative `run` results mean. */
const DAMAGE: Record<number, string> = {
  [-1]: 'it runs past the end of its block',
  [-2]: 'its union branch names no event type',
  [-3]: 'a nullable field has a union branch other than 0 or 1',
  [-4]: 'an enum index is outside its symbols',
  [-5]: 'a boolean byte is neither 0 nor 1',
  [-6]: 'a length or count is negative',
  [-7]: 'a varint runs over 10 bytes',
};

type Json = Record<string, unknown>;

/** How one event type is decoded: its columns, its dictionary groups and its chunk layout. */
export interface EventPlan {
  name: EventName;
  columns: Column[];
  /** Columns stored directly, in chunk order. */
  direct: Column[];
  /** Members of each group, in key order. */
  groups: Column[][];
  layout: ChunkLayout;
}

const planCache = new Map<EventName, EventPlan>();

export function eventPlan(name: EventName): EventPlan {
  const cached = planCache.get(name);
  if (cached !== undefined) return cached;
  const columns = columnsOf(name);
  const direct = columns.filter((c) => c.group === '');
  const names = [...new Set(columns.filter((c) => c.group !== '').map((c) => c.group))];
  const groups = names.map((g) => columns.filter((c) => c.group === g));
  const plan = { name, columns, direct, groups, layout: chunkLayout(direct, groups.length) };
  planCache.set(name, plan);
  return plan;
}

/** Builds the program words of one event type. */
class ProgramBuilder {
  readonly #plan: EventPlan;
  readonly #ops: number[][] = [];
  /** Null-action lists and type-tree nodes, placed after the ops. */
  readonly #tail: number[] = [];
  /** Tail word indexes waiting to be offset by the ops' length. */
  readonly #tailRefs: { op: number; word: number }[] = [];
  readonly #treeRefs: number[] = [];
  timeColumn = -1;

  constructor(plan: EventPlan) {
    this.#plan = plan;
  }

  build(): Int32Array {
    this.#fields(schemaJson(this.#plan.name).fields as Json[], [], false);
    this.#ops.push([OP_END, 0, 0, 0]);
    const base = this.#ops.length * 4;
    for (const ref of this.#tailRefs) this.#ops[ref.op]![ref.word]! += base;
    for (const at of this.#treeRefs) this.#tail[at]! += base;
    return Int32Array.from([...this.#ops.flat(), ...this.#tail]);
  }

  #fields(fields: Json[], prefix: string[], inNullable: boolean): void {
    for (const field of fields) {
      const path = [...prefix, field.name as string];
      const { type, nullable } = nonNull(field.type);
      const node: Json = typeof type === 'string' ? { type } : (type as Json);
      const flags = nullable ? FLAG_NULLABLE : 0;
      if (node.type === 'record') {
        if (!nullable) {
          this.#fields(node.fields as Json[], path, inNullable);
          continue;
        }
        const at = this.#ops.length;
        this.#ops.push([OP_RECORD, flags, 0, 0]);
        this.#fields(node.fields as Json[], path, true);
        this.#ops[at]![2] = this.#ops.length;
        this.#ops[at]![3] = this.#nullActions(path);
        this.#tailRefs.push({ op: at, word: 3 });
        continue;
      }
      if (node.type === 'fixed') {
        this.#ops.push([OP_FIXED, flags, node.size as number, 0]);
        continue;
      }
      const column = this.#column(path);
      if (column.group !== '') {
        const group = this.#groupOf(column);
        if (column.kind === 'complex') {
          const op = this.#ops.length;
          this.#ops.push([OP_COMPLEX, flags, group, this.#tree(type)]);
          this.#tailRefs.push({ op, word: 3 });
        } else {
          this.#ops.push([OP_STRING, flags, group, 0]);
        }
        continue;
      }
      const index = this.#plan.direct.indexOf(column);
      const withValidity = nullable || inNullable ? FLAG_VALIDITY : 0;
      if (path.length === 1 && path[0] === 'time') this.timeColumn = index;
      this.#ops.push([
        DIRECT_OPS[column.kind]!,
        flags | withValidity,
        index,
        column.kind === 'enum' ? column.symbols.length : 0,
      ]);
    }
  }

  #column(path: string[]): Column {
    const key = path.join('.');
    const column = this.#plan.columns.find((c) => c.path.join('.') === key);
    if (column === undefined) throw new Error(`no query column planned for ${key}`);
    return column;
  }

  #groupOf(column: Column): number {
    return this.#plan.groups.findIndex((members) => members.includes(column));
  }

  /** The null-action list for a nullable record at `path`; returns its tail word index. */
  #nullActions(path: string[]): number {
    const prefix = path.join('.') + '.';
    const under = this.#plan.columns.filter((c) => c.path.join('.').startsWith(prefix));
    const at = this.#tail.length;
    this.#tail.push(under.length);
    for (const column of under) {
      if (column.group === '') {
        this.#tail.push(NULL_COLUMN, this.#plan.direct.indexOf(column));
      } else {
        this.#tail.push(NULL_MEMBER, this.#groupOf(column));
      }
    }
    return at;
  }

  /** Appends the type-tree node of `schema` and its children; returns its tail word index. */
  #tree(schema: unknown): number {
    const { type, nullable } = nonNull(schema);
    if (nullable) {
      const at = this.#tail.length;
      this.#tail.push(T_NULLABLE, 0);
      this.#setChild(at + 1, this.#tree(type));
      return at;
    }
    const node: Json = typeof type === 'string' ? { type } : (type as Json);
    const at = this.#tail.length;
    switch (node.type) {
      case 'int':
      case 'long':
      case 'enum':
        this.#tail.push(T_VARINT);
        return at;
      case 'boolean':
        this.#tail.push(T_BOOLEAN);
        return at;
      case 'string':
      case 'bytes':
        this.#tail.push(T_BYTES);
        return at;
      case 'float':
        this.#tail.push(T_FLOAT);
        return at;
      case 'double':
        this.#tail.push(T_DOUBLE);
        return at;
      case 'fixed':
        this.#tail.push(T_FIXED, node.size as number);
        return at;
      case 'array':
      case 'map': {
        this.#tail.push(node.type === 'array' ? T_ARRAY : T_MAP, 0);
        this.#setChild(at + 1, this.#tree(node.type === 'array' ? node.items : node.values));
        return at;
      }
      case 'record': {
        const fields = node.fields as Json[];
        this.#tail.push(T_RECORD, fields.length, ...fields.map(() => 0));
        fields.forEach((f, i) => this.#setChild(at + 2 + i, this.#tree(f.type)));
        return at;
      }
      default:
        if (typeof node.type === 'object' && node.type !== null) return this.#tree(node.type);
        throw new PidstreamError(
          'PIDSTREAM_ERR_SCHEMA',
          `compiling the query decoder: Avro type ${JSON.stringify(type)} is not supported`,
        );
    }
  }

  #setChild(word: number, child: number): void {
    this.#tail[word] = child;
    this.#treeRefs.push(word);
  }
}

const DIRECT_OPS: Partial<Record<Column['kind'], number>> = {
  int: OP_INT,
  long: OP_LONG,
  timestamp: OP_LONG,
  boolean: OP_BOOLEAN,
  enum: OP_ENUM,
};

/** Layout words as the module's `configure` reads them. */
function layoutWords(layout: ChunkLayout, timeColumn: number): Int32Array {
  const validityStart = layout.validityOffset[0] ?? layout.nullFlagsOffset;
  const words = [
    layout.dataOffset.length,
    layout.idOffset.length,
    layout.bytes,
    timeColumn,
    layout.nullFlagsOffset,
    validityStart,
  ];
  for (let c = 0; c < layout.dataOffset.length; c++) {
    words.push(layout.dataOffset[c]!, layout.rowBytes[c]!, layout.validityOffset[c]!);
  }
  words.push(...layout.idOffset);
  return Int32Array.from(words);
}

/**
 * The parts of the WebAssembly JS API used here; the project's TypeScript libs do not declare
 * the `WebAssembly` global.
 */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface DecoderExports {
  memory: { buffer: ArrayBuffer };
  alloc(size: number): number;
  configure(index: number, program: number, layout: number): void;
  input(len: number): number;
  pad(len: number): void;
  setWindow(since: bigint, until: bigint): void;
  begin(len: number, count: number, branch: number): void;
  run(): number;
  full(): number;
  errorRecord(): number;
  errorOffset(): number;
  skipped(): number;
  chunkPtr(index: number): number;
  chunkRows(index: number): number;
  resetChunk(index: number): void;
  keyCount(index: number, group: number): number;
  keyBytes(index: number, group: number): number;
  keyPtr(index: number, group: number, id: number): number;
  keyLength(index: number, group: number, id: number): number;
  resetKeys(index: number, group: number): void;
}

let compiled: object | undefined;

function decoderModule(): object {
  if (compiled === undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(DECODER_WASM_PATH);
    } catch (err) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `load the query decoder ${DECODER_WASM_PATH}: run \`npm run build:wasm\``,
        { cause: err },
      );
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

/** A chunk that filled, or the last rows of a type: its buffer is the decoder's no longer. */
export interface DecodedChunk {
  /** Index of the event type in EVENT_NAMES. */
  type: number;
  buffer: ArrayBuffer;
  rows: number;
}

/** Keys of one dictionary first seen since the last `takeKeys`, as raw bytes. */
export interface DecodedKeys {
  type: number;
  group: number;
  /** Id of the first key. */
  first: number;
  /** Each key's length; the keys lie one after another in `bytes`. */
  lengths: Uint32Array<ArrayBuffer>;
  bytes: Uint8Array<ArrayBuffer>;
}

/** A dictionary that starts again from id 0 once the chunks taken so far are written. */
export interface KeyReset {
  type: number;
  group: number;
}

/** A record the module found damaged: which one, and what was wrong with it. */
export class RecordDamage extends Error {
  readonly record: number;
  readonly offset: number;

  constructor(code: number, record: number, offset: number) {
    super(DAMAGE[code] ?? `decoder error ${code}`);
    this.record = record;
    this.offset = offset;
  }
}

/** One thread's decoder: every event type, its chunks and its dictionaries. */
export class RecordDecoder {
  readonly plans: EventPlan[];
  readonly #wasm: DecoderExports;
  /** Per type and group: keys already handed on by `takeKeys`. */
  readonly #reported: number[][];
  readonly #maxKeys: number;

  /** `maxKeys`: DICTIONARY_MAX_KEYS unless a test wants dictionaries to start again often. */
  constructor(maxKeys = DICTIONARY_MAX_KEYS) {
    this.#maxKeys = maxKeys;
    this.plans = EVENT_NAMES.map(eventPlan);
    const instance = new WebAssembly.Instance(decoderModule(), {
      env: {
        abort: () => {
          throw new PidstreamError(
            'PIDSTREAM_ERR_DECODE',
            'the query decoder stopped: its memory reached the WebAssembly cap',
          );
        },
      },
    });
    this.#wasm = instance.exports as DecoderExports;
    for (const [index, plan] of this.plans.entries()) {
      const builder = new ProgramBuilder(plan);
      const program = this.#place(builder.build());
      const layout = this.#place(layoutWords(plan.layout, builder.timeColumn));
      this.#wasm.configure(index, program, layout);
    }
    this.#reported = this.plans.map((p) => p.groups.map(() => 0));
  }

  #place(words: Int32Array): number {
    const ptr = this.#wasm.alloc(words.byteLength);
    new Int32Array(this.#wasm.memory.buffer, ptr, words.length).set(words);
    return ptr;
  }

  /** Records whose `time` (microseconds) falls outside [since, until) are read and dropped. */
  setWindow(since: number, until: number): void {
    const bound = (us: number, fallback: bigint): bigint =>
      Number.isFinite(us) ? BigInt(Math.floor(us)) : fallback;
    this.#wasm.setWindow(bound(since, -(2n ** 63n)), bound(until, 2n ** 63n - 1n));
  }

  /**
   * Decodes `count` records from `records`; `branch` is -1 when each opens with its union
   * branch (a container file's block), or the type of them all. Hands every chunk that fills to
   * `onFull`; returns how many records fell outside the window. Throws RecordDamage.
   */
  decode(
    records: Uint8Array,
    count: number,
    branch: number,
    onFull: (chunk: DecodedChunk) => void,
  ): number {
    this.input(records.length).set(records);
    return this.decodeInput(records.length, count, branch, onFull);
  }

  /**
   * Room for `capacity` bytes of records inside the module, for a caller that writes them
   * there itself (an inflater); valid until the next call on this decoder.
   */
  input(capacity: number): Uint8Array {
    const at = this.#wasm.input(capacity);
    return new Uint8Array(this.#wasm.memory.buffer, at, capacity);
  }

  /** As `decode`, for `length` bytes of records written through `input`. */
  decodeInput(
    length: number,
    count: number,
    branch: number,
    onFull: (chunk: DecodedChunk) => void,
  ): number {
    const wasm = this.#wasm;
    wasm.pad(length);
    wasm.begin(length, count, branch);
    for (;;) {
      const status = wasm.run();
      if (status === STATUS_DONE) return wasm.skipped();
      if (status !== STATUS_FULL) {
        throw new RecordDamage(status, wasm.errorRecord(), wasm.errorOffset());
      }
      onFull(this.takeChunk(wasm.full())!);
    }
  }

  /** The rows of `type` decoded and not yet taken, as a chunk of their own; null when none. */
  takeChunk(type: number): DecodedChunk | null {
    const wasm = this.#wasm;
    const rows = wasm.chunkRows(type);
    if (rows === 0) return null;
    const ptr = wasm.chunkPtr(type);
    const buffer = wasm.memory.buffer.slice(ptr, ptr + this.plans[type]!.layout.bytes);
    wasm.resetChunk(type);
    return { type, buffer, rows };
  }

  /** Every type's last rows. */
  takeChunks(): DecodedChunk[] {
    const chunks: DecodedChunk[] = [];
    for (let type = 0; type < this.plans.length; type++) {
      const chunk = this.takeChunk(type);
      if (chunk !== null) chunks.push(chunk);
    }
    return chunks;
  }

  /** The keys of `type` first seen since the last call, copied out of the module. */
  takeKeys(type: number): DecodedKeys[] {
    const wasm = this.#wasm;
    const batches: DecodedKeys[] = [];
    for (let group = 0; group < this.plans[type]!.groups.length; group++) {
      const first = this.#reported[type]![group]!;
      const count = wasm.keyCount(type, group);
      if (count === first) continue;
      const lengths = new Uint32Array(count - first);
      let total = 0;
      for (let id = first; id < count; id++) {
        lengths[id - first] = wasm.keyLength(type, group, id);
        total += lengths[id - first]!;
      }
      // Keys of a dictionary lie one after another in its arena, in id order.
      const start = wasm.keyPtr(type, group, first);
      const bytes = new Uint8Array(wasm.memory.buffer.slice(start, start + total));
      batches.push({ type, group, first, lengths, bytes });
      this.#reported[type]![group] = count;
    }
    return batches;
  }

  /** Every type's new keys. */
  takeAllKeys(): DecodedKeys[] {
    return this.plans.flatMap((_, type) => this.takeKeys(type));
  }

  /**
   * Starts again from id 0 in each dictionary of `type` (every type when null) that holds more
   * than its maximum of keys or DICTIONARY_MAX_BYTES bytes. Call it only after the chunks
   * and keys so far were taken: the caller passes the returned resets on with them.
   */
  resetFullDictionaries(type: number | null = null): KeyReset[] {
    const wasm = this.#wasm;
    const resets: KeyReset[] = [];
    for (let t = 0; t < this.plans.length; t++) {
      if (type !== null && t !== type) continue;
      for (let group = 0; group < this.plans[t]!.groups.length; group++) {
        const full =
          wasm.keyCount(t, group) > this.#maxKeys || wasm.keyBytes(t, group) > DICTIONARY_MAX_BYTES;
        if (!full) continue;
        wasm.resetKeys(t, group);
        this.#reported[t]![group] = 0;
        resets.push({ type: t, group });
      }
    }
    return resets;
  }
}
