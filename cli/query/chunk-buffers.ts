/**
 * One DuckDB data chunk's worth of column values, in the memory layout DuckDB's vectors use,
 * so a whole column is handed over in one copy: little-endian integers, one byte per boolean
 * or enum code, and a validity bitmask of 64-bit words (bit i of byte i/8 is row i).
 */
import type { LeafKind } from './columns.js';

/** DuckDB's vector size: one data chunk holds at most this many rows. */
export const CHUNK_ROWS = 2048;

const VALIDITY_BYTES = CHUNK_ROWS / 8;
const TWO_POW_32 = 4294967296;

export interface ColumnBuffer {
  bytesPerRow: number;
  data: ArrayBuffer;
  int32: Int32Array;
  bytes: Uint8Array;
  big: BigInt64Array;
  validity: Uint8Array<ArrayBuffer>;
  hasNull: boolean;
}

function bytesPerRow(kind: LeafKind | 'id'): number {
  if (kind === 'boolean' || kind === 'enum') return 1;
  if (kind === 'long' || kind === 'timestamp') return 8;
  return 4;
}

function columnBuffer(kind: LeafKind | 'id'): ColumnBuffer {
  const size = bytesPerRow(kind);
  const data = new ArrayBuffer(size * CHUNK_ROWS);
  return {
    bytesPerRow: size,
    data,
    int32: new Int32Array(data),
    bytes: new Uint8Array(data),
    big: size === 8 ? new BigInt64Array(data) : new BigInt64Array(0),
    validity: new Uint8Array(new ArrayBuffer(VALIDITY_BYTES)).fill(0xff),
    hasNull: false,
  };
}

export class ChunkBuffers {
  /** Direct columns, then one id column per dictionary group. */
  readonly columns: ColumnBuffer[];
  readonly #groupBase: number;
  rows = 0;

  constructor(kinds: LeafKind[], groups: number) {
    this.columns = kinds.map(columnBuffer);
    this.#groupBase = this.columns.length;
    for (let g = 0; g < groups; g++) this.columns.push(columnBuffer('id'));
  }

  setInt(column: number, row: number, value: number): void {
    this.columns[column]!.int32[row] = value;
  }

  setByte(column: number, row: number, value: number): void {
    this.columns[column]!.bytes[row] = value;
  }

  /** A 64-bit integer given as an exact JavaScript number, written as two 32-bit halves. */
  setLong(column: number, row: number, value: number): void {
    const int32 = this.columns[column]!.int32;
    int32[2 * row] = value >>> 0;
    int32[2 * row + 1] = Math.floor(value / TWO_POW_32);
  }

  setBigLong(column: number, row: number, value: bigint): void {
    this.columns[column]!.big[row] = BigInt.asIntN(64, value);
  }

  setGroupId(group: number, row: number, id: number): void {
    this.columns[this.#groupBase + group]!.int32[row] = id;
  }

  setNull(column: number, row: number): void {
    const buffer = this.columns[column]!;
    buffer.validity[row >> 3]! &= ~(1 << (row & 7));
    buffer.hasNull = true;
  }

  /** Marks every row valid again after the chunk was handed to DuckDB. */
  reset(): void {
    for (const column of this.columns) {
      if (column.hasNull) column.validity.fill(0xff);
      column.hasNull = false;
    }
    this.rows = 0;
  }
}
