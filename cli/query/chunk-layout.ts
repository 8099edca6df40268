/**
 * One decoded chunk of an event type, as it travels from the decoder to the table writer: a
 * single ArrayBuffer holding, for each column stored directly, its values in the memory layout
 * of DuckDB's vectors (little-endian integers, one byte per boolean, the enum code in one or
 * two bytes), then one u32 dictionary id column per group of string fields, then each direct
 * column's validity mask (bit i of byte i/8 is row i, as DuckDB's 64-bit words lay it out), then
 * one byte per direct column that is 1 when the chunk holds a NULL in it.
 *
 * The WebAssembly decoder writes chunks in this layout and the writer reads them in it; both
 * compute it here from the columns, which is the only contract between them.
 */
import type { Column } from './columns.js';

/** DuckDB's vector size: one data chunk holds at most this many rows. */
export const CHUNK_ROWS = 2048;
export const VALIDITY_BYTES = CHUNK_ROWS / 8;
/** Bytes of a dictionary id. */
const ID_BYTES = 4;

export interface ChunkLayout {
  /** Per direct column: where its values start, and the bytes each row takes. */
  dataOffset: number[];
  rowBytes: number[];
  validityOffset: number[];
  /** Per group: where its id column starts. */
  idOffset: number[];
  nullFlagsOffset: number;
  bytes: number;
}

/** Bytes one row of a directly stored column takes in DuckDB's vector. */
export function rowBytesOf(column: Column): number {
  switch (column.kind) {
    case 'boolean':
      return 1;
    case 'enum':
      // DuckDB stores an enum's code in the smallest unsigned integer that holds every code.
      return column.symbols.length <= 256 ? 1 : 2;
    case 'int':
      return 4;
    case 'long':
    case 'timestamp':
      return 8;
    default:
      throw new Error(`column ${column.name} of kind ${column.kind} is not stored directly`);
  }
}

/** Offsets are multiples of 8, so every column can be viewed as its own typed array. */
function aligned(offset: number): number {
  return Math.ceil(offset / 8) * 8;
}

export function chunkLayout(direct: readonly Column[], groups: number): ChunkLayout {
  const rowBytes = direct.map(rowBytesOf);
  const dataOffset: number[] = [];
  let bytes = 0;
  for (const size of rowBytes) {
    dataOffset.push(bytes);
    bytes = aligned(bytes + size * CHUNK_ROWS);
  }
  const idOffset: number[] = [];
  for (let g = 0; g < groups; g++) {
    idOffset.push(bytes);
    bytes += ID_BYTES * CHUNK_ROWS;
  }
  const validityOffset = rowBytes.map((_, i) => bytes + i * VALIDITY_BYTES);
  bytes += rowBytes.length * VALIDITY_BYTES;
  return {
    dataOffset,
    rowBytes,
    validityOffset,
    idOffset,
    nullFlagsOffset: bytes,
    bytes: aligned(bytes + rowBytes.length),
  };
}
