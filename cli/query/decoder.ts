/**
 * Decodes the Avro binary of one event straight into column buffers, without building a
 * JavaScript object per event. avsc's generic decoder alone ran at about 550,000 ProcessExit
 * records/s on the project's machine, which left no time for loading them into DuckDB; this
 * decoder reads numbers into typed arrays and turns strings into dictionary keys built from
 * their raw bytes, so a repeated string costs one hash lookup and is never decoded twice.
 *
 * The reader schema is the current schema of `schemas/avro/`: events written with another
 * version must be resolved before they reach this decoder.
 */
import { PidstreamError } from '../../common/errors.js';
import { schemaJson, type EventName } from '../../schemas/index.js';
import { columnsOf, nonNull, type Column, type LeafKind } from './columns.js';
import { ChunkBuffers, CHUNK_ROWS } from './chunk-buffers.js';

/** Bytes of raw encoding one dictionary key may hold; a larger key grows the scratch. */
const INITIAL_KEY_BYTES = 4096;

const enum Op {
  Int,
  Long,
  Boolean,
  Enum,
  Grouped,
  Record,
  Fixed,
}

interface Step {
  op: Op;
  nullable: boolean;
  /** Direct column index for Int/Long/Boolean/Enum; group index for Grouped. */
  target: number;
  /** Skips the raw encoding of a Grouped value, returning the position after it. */
  skip: Skipper | null;
  /** Record children, or the fixed size for Fixed. */
  steps: Step[];
  size: number;
}

/** Returns the offset just past the value that starts at `pos`. */
export type Skipper = (buf: Buffer, pos: number) => number;

type Json = Record<string, unknown>;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * One dictionary: distinct group keys (the raw Avro bytes of the group's fields, each after a
 * presence byte) in order of first appearance. Keys are found by an FNV-1a hash computed while
 * the bytes are copied, then compared byte for byte; a JavaScript string per event as the key
 * cost more in allocation and hashing than the rest of the decode.
 */
export class GroupDictionary {
  readonly members: Column[];
  /** Keys first seen since the last drain: decoded once, into DuckDB. */
  pending: Buffer[] = [];
  scratch = Buffer.allocUnsafe(INITIAL_KEY_BYTES);
  length = 0;
  #hash = FNV_OFFSET;
  readonly #keys: Buffer[] = [];
  /** The newest id of each hash; older ids with the same hash chain through `#next`. */
  readonly #newest = new Map<number, number>();
  readonly #next: number[] = [];

  constructor(members: Column[]) {
    this.members = members;
  }

  /** Distinct keys so far. */
  get size(): number {
    return this.#keys.length;
  }

  append(buf: Buffer, start: number, end: number, present: boolean): void {
    const need = this.length + 1 + end - start;
    if (need > this.scratch.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, this.scratch.length * 2));
      this.scratch.copy(grown, 0, 0, this.length);
      this.scratch = grown;
    }
    // A plain loop: Buffer#copy's wrapper cost more than the copy for these short values.
    const scratch = this.scratch;
    let length = this.length;
    let hash = Math.imul(this.#hash ^ (present ? 1 : 0), FNV_PRIME);
    scratch[length++] = present ? 1 : 0;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      scratch[length++] = b;
      hash = Math.imul(hash ^ b, FNV_PRIME);
    }
    this.length = length;
    this.#hash = hash;
  }

  /** The id of the key collected since the last call; a new key joins `pending`. */
  close(): number {
    const length = this.length;
    const hash = this.#hash;
    this.length = 0;
    this.#hash = FNV_OFFSET;
    const newest = this.#newest.get(hash);
    for (let id = newest ?? -1; id !== -1; id = this.#next[id]!) {
      const key = this.#keys[id]!;
      if (key.length === length && key.compare(this.scratch, 0, length) === 0) return id;
    }
    const key = Buffer.from(this.scratch.subarray(0, length));
    const id = this.#keys.length;
    this.#keys.push(key);
    this.#next.push(newest ?? -1);
    this.#newest.set(hash, id);
    this.pending.push(key);
    return id;
  }
}

function skipperOf(schema: unknown): Skipper {
  const { type, nullable } = nonNull(schema);
  const inner = skipperOfType(type);
  if (!nullable) return inner;
  return (buf, pos) => {
    const branch = readVarint(buf, pos);
    return branch.value === 0 ? branch.end : inner(buf, branch.end);
  };
}

function skipperOfType(type: unknown): Skipper {
  const node: Json = typeof type === 'string' ? { type } : (type as Json);
  switch (node.type) {
    case 'int':
    case 'long':
    case 'enum':
      return (buf, pos) => readVarint(buf, pos).end;
    case 'boolean':
      return (_buf, pos) => pos + 1;
    case 'string':
    case 'bytes':
      return (buf, pos) => {
        const length = readVarint(buf, pos);
        return length.end + length.value;
      };
    case 'fixed':
      return (_buf, pos) => pos + (node.size as number);
    case 'record': {
      const fields = (node.fields as Json[]).map((f) => skipperOf(f.type));
      return (buf, pos) => {
        for (const skip of fields) pos = skip(buf, pos);
        return pos;
      };
    }
    case 'array':
    case 'map': {
      const item = skipperOf(node.type === 'array' ? node.items : node.values);
      const key = skipperOfType('string');
      const isMap = node.type === 'map';
      return (buf, pos) => {
        for (;;) {
          const count = readVarint(buf, pos);
          pos = count.end;
          if (count.value === 0) return pos;
          if (count.value < 0) {
            // A negative count is followed by the block's size in bytes.
            const size = readVarint(buf, pos);
            pos = size.end + size.value;
            continue;
          }
          for (let i = 0; i < count.value; i++) {
            if (isMap) pos = key(buf, pos);
            pos = item(buf, pos);
          }
        }
      };
    }
    default:
      if (typeof node.type === 'string' && typeof type === 'object')
        return skipperOfType(node.type);
      throw new PidstreamError(
        'PIDSTREAM_ERR_SCHEMA',
        `cannot skip Avro type ${JSON.stringify(type)}`,
      );
  }
}

/** A zig-zag varint as a JavaScript number: exact up to 2^53, which every count here is. */
export function readVarint(buf: Buffer, pos: number): { value: number; end: number } {
  let n = 0;
  let factor = 1;
  let b: number;
  do {
    b = buf[pos++]!;
    n += (b & 0x7f) * factor;
    factor *= 128;
  } while (b & 0x80);
  return { value: n % 2 === 0 ? n / 2 : -(n + 1) / 2, end: pos };
}

/** Compiles one event's schema into steps that fill `ChunkBuffers`. */
export class EventDecoder {
  readonly name: EventName;
  readonly columns: Column[];
  readonly buffers: ChunkBuffers;
  readonly groups: GroupDictionary[];
  /** Direct columns in buffer order. */
  readonly direct: Column[];
  /** Steps over a whole record without decoding it: for events outside the window. */
  readonly skip: Skipper;
  readonly #steps: Step[];
  #buf: Buffer = Buffer.alloc(0);
  #pos = 0;
  #row = 0;

  constructor(name: EventName) {
    this.name = name;
    this.columns = columnsOf(name);
    this.direct = this.columns.filter((c) => c.group === '');
    const groupNames = [...new Set(this.columns.filter((c) => c.group !== '').map((c) => c.group))];
    this.groups = groupNames.map(
      (g) => new GroupDictionary(this.columns.filter((c) => c.group === g)),
    );
    this.buffers = new ChunkBuffers(
      this.direct.map((c) => c.kind),
      this.groups.length,
    );
    this.#steps = this.#compile(schemaJson(name).fields as Json[], []);
    this.skip = skipperOfType(schemaJson(name));
  }

  get rows(): number {
    return this.#row;
  }

  #compile(fields: Json[], prefix: string[]): Step[] {
    const steps: Step[] = [];
    for (const field of fields) {
      const path = [...prefix, field.name as string];
      const { type, nullable } = nonNull(field.type);
      const node = typeof type === 'string' ? { type } : (type as Json);
      if (node.type === 'record') {
        const steps2 = this.#compile(node.fields as Json[], path);
        steps.push({ op: Op.Record, nullable, target: -1, skip: null, steps: steps2, size: 0 });
        continue;
      }
      if (node.type === 'fixed') {
        steps.push({
          op: Op.Fixed,
          nullable,
          target: -1,
          skip: null,
          steps: [],
          size: node.size as number,
        });
        continue;
      }
      const column = this.columns.find((c) => c.path.join('.') === path.join('.'));
      if (column === undefined) throw new Error(`no column planned for ${path.join('.')}`);
      if (column.group !== '') {
        const target = this.groups.findIndex((g) => g.members.includes(column));
        steps.push({
          op: Op.Grouped,
          nullable,
          target,
          skip: skipperOfType(type),
          steps: [],
          size: 0,
        });
        continue;
      }
      const op = DIRECT_OPS[column.kind];
      if (op === undefined) throw new Error(`column ${column.name} of kind ${column.kind}`);
      steps.push({
        op,
        nullable,
        target: this.direct.indexOf(column),
        skip: null,
        steps: [],
        size: 0,
      });
    }
    return steps;
  }

  /**
   * Decodes the event record at `buf[pos]` into the next row and returns the offset just past
   * it. The caller hands the chunk to DuckDB when `full` says so.
   */
  decodeAt(buf: Buffer, pos: number): number {
    this.#buf = buf;
    this.#pos = pos;
    const row = this.buffers.rows;
    this.#run(this.#steps, row);
    for (let g = 0; g < this.groups.length; g++) {
      this.buffers.setGroupId(g, row, this.groups[g]!.close());
    }
    this.#row++;
    this.buffers.rows = row + 1;
    if (this.#pos > buf.length) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `decoding a ${this.name} record at byte ${pos}: it runs past the end of its block`,
      );
    }
    return this.#pos;
  }

  get full(): boolean {
    return this.buffers.rows === CHUNK_ROWS;
  }

  #run(steps: Step[], row: number): void {
    const buffers = this.buffers;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i]!;
      if (step.nullable && this.#readLong() === 0) {
        this.#setNull(step, row);
        continue;
      }
      switch (step.op) {
        case Op.Int:
          buffers.setInt(step.target, row, this.#readLong());
          break;
        case Op.Long:
          this.#readLongInto(step.target, row);
          break;
        case Op.Boolean:
          buffers.setByte(step.target, row, this.#buf[this.#pos++]!);
          break;
        case Op.Enum:
          buffers.setByte(step.target, row, this.#readLong());
          break;
        case Op.Grouped: {
          const start = this.#pos;
          this.#pos = step.skip!(this.#buf, start);
          this.groups[step.target]!.append(this.#buf, start, this.#pos, true);
          break;
        }
        case Op.Record:
          this.#run(step.steps, row);
          break;
        case Op.Fixed:
          this.#pos += step.size;
          break;
      }
    }
  }

  #setNull(step: Step, row: number): void {
    if (step.op === Op.Record) {
      for (const child of step.steps) this.#setNull(child, row);
    } else if (step.op === Op.Grouped) {
      this.groups[step.target]!.append(this.#buf, 0, 0, false);
    } else if (step.op !== Op.Fixed) {
      this.buffers.setNull(step.target, row);
    }
  }

  #readLong(): number {
    const buf = this.#buf;
    let pos = this.#pos;
    let b = buf[pos++]!;
    let n = b & 0x7f;
    if (b & 0x80) {
      let factor = 128;
      do {
        b = buf[pos++]!;
        n += (b & 0x7f) * factor;
        factor *= 128;
      } while (b & 0x80);
    }
    this.#pos = pos;
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  /**
   * A long, exact over all 64 bits. Timestamps in microseconds need 8-byte varints, so the
   * number path covers every value below 2^53; only larger ones (kernel addresses) take BigInt.
   */
  #readLongInto(column: number, row: number): void {
    const start = this.#pos;
    const n = this.#readLong();
    if (Number.isSafeInteger(n)) {
      this.buffers.setLong(column, row, n);
      return;
    }
    const buf = this.#buf;
    let big = 0n;
    let shift = 0n;
    for (let i = start; i < this.#pos; i++) {
      big |= BigInt(buf[i]! & 0x7f) << shift;
      shift += 7n;
    }
    this.buffers.setBigLong(column, row, (big >> 1n) ^ -(big & 1n));
  }
}

const DIRECT_OPS: Partial<Record<LeafKind, Op>> = {
  int: Op.Int,
  long: Op.Long,
  timestamp: Op.Long,
  boolean: Op.Boolean,
  enum: Op.Enum,
};
