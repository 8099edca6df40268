/**
 * LIST and MAP columns (Avro arrays and maps) filled from dictionary values.
 *
 * A distinct value is read once, from the raw Avro bytes of its dictionary key, into a
 * template: its element count and, for every vector under the list's child (the child itself,
 * or each field of a struct child, recursively), the elements' bytes as DuckDB lays them out and
 * which of them are NULL. A chunk then places each distinct value of its rows once in the
 * list's child vector, and every row's list entry (offset, length) points at its value's
 * elements: rows with the same value share them, which DuckDB's list vectors allow.
 *
 * Element types: strings, UUIDs, integers, timestamps, booleans, enums, floats and records of
 * them, each maybe nullable. A list inside a list element is refused when the column's writer
 * is made, before anything is loaded.
 */
import duckdb from '@duckdb/node-bindings';

import { PidstreamError } from '../../common/errors.js';
import { nonNull, type Column } from './columns.js';
import type { StringHeap } from './string-heap.js';
import { writeUuid } from './uuid-words.js';

type Json = Record<string, unknown>;

type LeafKind = 'string' | 'uuid' | 'int' | 'long' | 'boolean' | 'enum' | 'float' | 'double';

interface LeafNode {
  kind: LeafKind;
  bytes: number;
  nullable: boolean;
  /** Index of this node among the element's nodes, depth first. */
  index: number;
  /** Enum symbols, for the range check. */
  symbols: number;
}

interface StructNode {
  kind: 'struct';
  nullable: boolean;
  index: number;
  fields: ElementNode[];
}

type ElementNode = LeafNode | StructNode;

/** One distinct value: its element count and, per node, the elements' bytes and NULLs. */
export interface ListValue {
  count: number;
  /** Per node: `count` values of its size (leaves), or null (structs). */
  data: (Uint8Array<ArrayBuffer> | null)[];
  /** Per node: 1 for each NULL element, or null when none is. */
  nulls: (Uint8Array | null)[];
}

function shapeOf(schema: unknown, nodes: ElementNode[], column: Column): ElementNode {
  const { type, nullable } = nonNull(schema);
  const node: Json = typeof type === 'string' ? { type } : (type as Json);
  const index = nodes.length;
  const leaf = (kind: LeafKind, bytes: number, symbols = 0): LeafNode => {
    const made = { kind, bytes, nullable, index, symbols };
    nodes.push(made);
    return made;
  };
  if (node.logicalType === 'uuid') return leaf('uuid', 16);
  switch (node.type) {
    case 'string':
      return leaf('string', 16);
    case 'int':
      return leaf('int', 4);
    case 'long':
      return leaf('long', 8);
    case 'boolean':
      return leaf('boolean', 1);
    case 'float':
      return leaf('float', 4);
    case 'double':
      return leaf('double', 8);
    case 'enum': {
      const symbols = (node.symbols as string[]).length;
      return leaf('enum', symbols <= 256 ? 1 : 2, symbols);
    }
    case 'record': {
      const made: StructNode = { kind: 'struct', nullable, index, fields: [] };
      nodes.push(made);
      for (const field of node.fields as Json[])
        made.fields.push(shapeOf(field.type, nodes, column));
      return made;
    }
    default:
      if (typeof node.type === 'object' && node.type !== null) {
        return shapeOf(nullable ? ['null', node.type] : node.type, nodes, column);
      }
      throw new PidstreamError(
        'PIDSTREAM_ERR_SCHEMA',
        `planning query column ${column.name}: ${JSON.stringify(type)} inside a list is not ` +
          'supported',
      );
  }
}

/** Reads Avro values off a buffer. */
class Reader {
  pos: number;
  readonly buf: Uint8Array;

  constructor(buf: Uint8Array, pos: number) {
    this.buf = buf;
    this.pos = pos;
  }

  /** A zig-zag varint, exact over 64 bits. */
  long(): bigint {
    let n = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new RangeError('a value runs past its key');
      const b = this.buf[this.pos++]!;
      n |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
    }
    return (n >> 1n) ^ -(n & 1n);
  }

  int(): number {
    return Number(this.long());
  }

  bytes(): Uint8Array {
    const length = this.int();
    const start = this.pos;
    this.pos += length;
    if (length < 0 || this.pos > this.buf.length)
      throw new RangeError('a string runs past its key');
    return this.buf.subarray(start, this.pos);
  }
}

/** Values being collected for one template, per node. */
interface Collecting {
  values: unknown[][];
  nulls: boolean[][];
}

export class ListColumn {
  readonly column: Column;
  readonly isMap: boolean;
  /** The element's nodes, depth first; node 0 is the element itself. */
  readonly nodes: ElementNode[] = [];
  readonly #element: ElementNode;
  /** Per template: the chunk that last placed it, and where its elements start there. */
  #stamp = new Int32Array(0);
  #offset = new Int32Array(0);
  #serial = 0;

  constructor(column: Column, schema: unknown) {
    this.column = column;
    const { type } = nonNull(schema);
    const node = type as Json;
    this.isMap = node.type === 'map';
    if (this.isMap) {
      this.#element = shapeOf(
        {
          type: 'record',
          name: 'entry',
          fields: [
            { name: 'key', type: 'string' },
            { name: 'value', type: node.values },
          ],
        },
        this.nodes,
        column,
      );
    } else {
      this.#element = shapeOf(node.items, this.nodes, column);
    }
  }

  /** The template of the Avro value at `key[pos…]`, and the offset just past the value. */
  read(key: Uint8Array, pos: number, heap: StringHeap): { value: ListValue; end: number } {
    const reader = new Reader(key, pos);
    const collecting: Collecting = {
      values: this.nodes.map(() => []),
      nulls: this.nodes.map(() => []),
    };
    let count = 0;
    for (;;) {
      let items = reader.int();
      if (items === 0) break;
      if (items < 0) {
        items = -items;
        reader.long();
      }
      for (let i = 0; i < items; i++) this.#readElement(reader, this.#element, collecting);
      count += items;
    }
    return { value: this.#template(count, collecting, heap), end: reader.pos };
  }

  #readElement(reader: Reader, node: ElementNode, into: Collecting): void {
    const isNull = node.nullable && reader.int() === 0;
    into.nulls[node.index]!.push(isNull);
    if (node.kind === 'struct') {
      for (const field of node.fields) {
        if (isNull) this.#pushNull(field, into);
        else this.#readElement(reader, field, into);
      }
      return;
    }
    if (isNull) {
      into.values[node.index]!.push(null);
      return;
    }
    switch (node.kind) {
      case 'string':
      case 'uuid':
        into.values[node.index]!.push(reader.bytes());
        break;
      case 'boolean':
        into.values[node.index]!.push(reader.buf[reader.pos++]);
        break;
      case 'float':
      case 'double': {
        const view = new DataView(reader.buf.buffer, reader.buf.byteOffset + reader.pos);
        into.values[node.index]!.push(
          node.kind === 'float' ? view.getFloat32(0, true) : view.getFloat64(0, true),
        );
        reader.pos += node.bytes;
        break;
      }
      case 'enum': {
        const code = reader.int();
        if (code < 0 || code >= node.symbols) throw new RangeError(`enum index ${code}`);
        into.values[node.index]!.push(code);
        break;
      }
      default:
        into.values[node.index]!.push(reader.long());
    }
  }

  /** A NULL struct's fields are NULL too. */
  #pushNull(node: ElementNode, into: Collecting): void {
    into.nulls[node.index]!.push(true);
    if (node.kind === 'struct') for (const field of node.fields) this.#pushNull(field, into);
    else into.values[node.index]!.push(null);
  }

  #template(count: number, collecting: Collecting, heap: StringHeap): ListValue {
    const data = this.nodes.map((node) => {
      if (node.kind === 'struct') return null;
      const bytes = new Uint8Array(count * node.bytes);
      const view = new DataView(bytes.buffer);
      const words = new Int32Array(bytes.buffer, 0, node.bytes === 16 ? count * 4 : 0);
      collecting.values[node.index]!.forEach((value, i) => {
        if (value === null) return;
        this.#writeLeaf(node, value, i, view, words, heap);
      });
      return bytes;
    });
    const nulls = this.nodes.map((node) => {
      const flags = collecting.nulls[node.index]!;
      return flags.some(Boolean) ? Uint8Array.from(flags, Number) : null;
    });
    return { count, data, nulls };
  }

  #writeLeaf(
    node: LeafNode,
    value: unknown,
    i: number,
    view: DataView,
    words: Int32Array,
    heap: StringHeap,
  ): void {
    const at = i * node.bytes;
    switch (node.kind) {
      case 'string':
        heap.add(value as Uint8Array, words, i * 4);
        break;
      case 'uuid':
        if (!writeUuid(value as Uint8Array, words, i * 4)) {
          throw new RangeError(`'${Buffer.from(value as Uint8Array).toString()}' is not a UUID`);
        }
        break;
      case 'int':
        view.setInt32(at, Number(value), true);
        break;
      case 'long':
        view.setBigInt64(at, BigInt.asIntN(64, value as bigint), true);
        break;
      case 'boolean':
        view.setUint8(at, value as number);
        break;
      case 'enum':
        if (node.bytes === 1) view.setUint8(at, value as number);
        else view.setUint16(at, value as number, true);
        break;
      case 'float':
        view.setFloat32(at, value as number, true);
        break;
      case 'double':
        view.setFloat64(at, value as number, true);
        break;
    }
  }

  /**
   * Fills the list vector `vector` for `rows` rows whose values are `templates[value[r]]`
   * (-1: NULL, already marked in the vector's validity by the caller).
   */
  fill(vector: duckdb.Vector, rows: number, value: Int32Array, templates: ListValue[]): void {
    if (this.#stamp.length < templates.length) {
      const size = Math.max(templates.length, this.#stamp.length * 2);
      this.#stamp = new Int32Array(size);
      this.#offset = new Int32Array(size);
      this.#serial = 0;
    }
    const serial = ++this.#serial;
    const stamp = this.#stamp;
    const offset = this.#offset;
    const placed: number[] = [];
    const entries = new Uint32Array(rows * 4);
    let total = 0;
    for (let r = 0; r < rows; r++) {
      const t = value[r]!;
      if (t < 0) continue;
      if (stamp[t] !== serial) {
        stamp[t] = serial;
        offset[t] = total;
        total += templates[t]!.count;
        placed.push(t);
      }
      // list_entry_t: u64 offset, u64 length; neither reaches 2^32 in one chunk.
      entries[r * 4] = offset[t]!;
      entries[r * 4 + 2] = templates[t]!.count;
    }
    duckdb.list_vector_reserve(vector, total);
    duckdb.list_vector_set_size(vector, total);
    this.#fillNode(duckdb.list_vector_get_child(vector), this.#element, total, placed, templates);
    duckdb.copy_data_to_vector(vector, 0, entries.buffer, 0, entries.byteLength);
  }

  #fillNode(
    vector: duckdb.Vector,
    node: ElementNode,
    total: number,
    placed: readonly number[],
    templates: ListValue[],
  ): void {
    if (total === 0) return;
    const offset = this.#offset;
    if (node.nullable && placed.some((t) => templates[t]!.nulls[node.index] !== null)) {
      const mask = new Uint8Array(Math.ceil(total / 64) * 8).fill(0xff);
      for (const t of placed) {
        const nulls = templates[t]!.nulls[node.index];
        if (nulls === null || nulls === undefined) continue;
        for (let i = 0; i < nulls.length; i++) {
          const e = offset[t]! + i;
          if (nulls[i] === 1) mask[e >> 3]! &= ~(1 << (e & 7));
        }
      }
      duckdb.vector_ensure_validity_writable(vector);
      duckdb.copy_data_to_vector_validity(vector, 0, mask.buffer, 0, mask.byteLength);
    }
    if (node.kind === 'struct') {
      node.fields.forEach((field, i) =>
        this.#fillNode(duckdb.struct_vector_get_child(vector, i), field, total, placed, templates),
      );
      return;
    }
    const bytes = new Uint8Array(total * node.bytes);
    for (const t of placed) bytes.set(templates[t]!.data[node.index]!, offset[t]! * node.bytes);
    duckdb.copy_data_to_vector(vector, 0, bytes.buffer, 0, bytes.byteLength);
  }
}
