// The record decoder of `pidstream query`, compiled to WebAssembly. It walks the Avro binary of
// event records and writes their values straight into chunks laid out as DuckDB's vectors
// (cli/query/chunk-layout.ts), and turns each group of string fields into a dictionary id: the
// raw bytes of the group's fields, each after a presence byte, form a key that is hashed and
// looked up in the group's dictionary, so a value seen before costs a hash and one comparison.
//
// The host (cli/query/decoder.ts) compiles each event schema into a program of fixed-size ops
// and a chunk layout, hands them to `configure`, copies a block's records in through `input`,
// and calls `run` until it reports the records done; between calls it copies out the chunks
// that filled and the dictionary keys first seen. The records are untrusted: every length is
// checked against the end of the block before it is used, and a record that runs past that end
// is an error, never a read of what lies beyond.

/** DuckDB's vector size: rows in one chunk. */
const CHUNK_ROWS: u32 = 2048;
/** Event types one decoder holds. */
const MAX_TYPES: i32 = 8;
/** Zero bytes after the input, and spare bytes after every key buffer, for 8-byte reads. */
const PAD: u32 = 16;

// Ops: four i32 words each (op, flags, a, b). Flags: the field is a ["null", T] union; the
// column's validity must be written on every row (it sits inside a nullable record).
const OP_END: i32 = 0;
const OP_INT: i32 = 1; // a = column
const OP_LONG: i32 = 2; // a = column
const OP_BOOLEAN: i32 = 3; // a = column
const OP_ENUM: i32 = 4; // a = column, b = symbol count
const OP_STRING: i32 = 5; // a = group
const OP_COMPLEX: i32 = 6; // a = group, b = word index of its type tree node
const OP_FIXED: i32 = 7; // a = size
const OP_RECORD: i32 = 8; // a = op index after the record, b = word index of its null actions
const FLAG_NULLABLE: i32 = 1;
const FLAG_VALIDITY: i32 = 2;

// A null action (kind, target): clear a column's validity, or mark a group member absent.
const NULL_COLUMN: i32 = 0;
const NULL_MEMBER: i32 = 1;

// Type tree nodes, for stepping over complex values: kind, then operands.
const T_VARINT: i32 = 0;
const T_BOOLEAN: i32 = 1;
const T_BYTES: i32 = 2;
const T_FIXED: i32 = 3; // size
const T_RECORD: i32 = 4; // field count, then the word index of each field's node
const T_ARRAY: i32 = 5; // item node
const T_MAP: i32 = 6; // value node
const T_NULLABLE: i32 = 7; // node of the non-null branch
const T_FLOAT: i32 = 8;
const T_DOUBLE: i32 = 9;

// `run` results; errors are negative and name what was wrong with the record.
const STATUS_DONE: i32 = 0;
const STATUS_FULL: i32 = 1;
export const ERR_TRUNCATED: i32 = -1;
export const ERR_BRANCH: i32 = -2;
export const ERR_NULL_BRANCH: i32 = -3;
export const ERR_ENUM: i32 = -4;
export const ERR_BOOLEAN: i32 = -5;
export const ERR_LENGTH: i32 = -6;
export const ERR_VARINT: i32 = -7;

/** Room for `size` bytes, for the host to write a program or a layout into. */
export function alloc(size: u32): usize {
  return heap.alloc(<usize>size);
}

/** Distinct keys of one group of fields, in order of first appearance; the id is the index. */
class Dictionary {
  /** The key being collected for the current record. */
  scratch: usize = heap.alloc(256 + PAD);
  scratchLen: u32 = 0;
  scratchCap: u32 = 256;
  /** Every key, one after another; `offsets` and `lengths` index it by id. */
  arena: usize = heap.alloc(4096 + PAD);
  arenaLen: u32 = 0;
  arenaCap: u32 = 4096;
  offsets: usize = heap.alloc(256 * 4);
  lengths: usize = heap.alloc(256 * 4);
  idCap: u32 = 256;
  count: u32 = 0;
  /** Open addressing: id + 1 per slot (0 is empty), and the slot's key hash. */
  slots: usize = 0;
  hashes: usize = 0;
  mask: u32 = 0;

  constructor() {
    this.allocTable(1024);
  }

  allocTable(capacity: u32): void {
    this.slots = heap.alloc(<usize>capacity * 4);
    this.hashes = heap.alloc(<usize>capacity * 4);
    memory.fill(this.slots, 0, <usize>capacity * 4);
    this.mask = capacity - 1;
  }

  /** Forgets every key: ids start from 0 again. */
  reset(): void {
    heap.free(this.slots);
    heap.free(this.hashes);
    this.allocTable(1024);
    this.arenaLen = 0;
    this.count = 0;
    this.scratchLen = 0;
  }

  /** Appends a presence byte and, when present, `n` raw bytes from `from`. */
  @inline
  append(present: bool, from: usize, n: u32): void {
    const need = this.scratchLen + 1 + n;
    if (need > this.scratchCap) this.growScratch(need);
    const at = this.scratch + this.scratchLen;
    store<u8>(at, present ? 1 : 0);
    copyBytes(at + 1, from, n);
    this.scratchLen = need;
  }

  growScratch(need: u32): void {
    let cap = this.scratchCap * 2;
    while (cap < need) cap *= 2;
    this.scratch = heap.realloc(this.scratch, <usize>cap + PAD);
    this.scratchCap = cap;
  }

  /** The id of the collected key, adding it when it is new. */
  close(): u32 {
    const key = this.scratch;
    const n = this.scratchLen;
    this.scratchLen = 0;
    const hash = hashBytes(key, n);
    let slot = hash & this.mask;
    for (;;) {
      const entry = load<u32>(this.slots + ((<usize>slot) << 2));
      if (entry == 0) break;
      if (load<u32>(this.hashes + ((<usize>slot) << 2)) == hash) {
        const id = entry - 1;
        const at = this.arena + <usize>load<u32>(this.offsets + ((<usize>id) << 2));
        if (load<u32>(this.lengths + ((<usize>id) << 2)) == n && equalBytes(at, key, n)) return id;
      }
      slot = (slot + 1) & this.mask;
    }
    return this.insert(key, n, hash, slot);
  }

  insert(key: usize, n: u32, hash: u32, slot: u32): u32 {
    if (this.arenaLen + n > this.arenaCap) {
      let cap = this.arenaCap * 2;
      while (cap < this.arenaLen + n) cap *= 2;
      this.arena = heap.realloc(this.arena, <usize>cap + PAD);
      this.arenaCap = cap;
    }
    if (this.count == this.idCap) {
      this.idCap *= 2;
      this.offsets = heap.realloc(this.offsets, <usize>this.idCap * 4);
      this.lengths = heap.realloc(this.lengths, <usize>this.idCap * 4);
    }
    const id = this.count++;
    copyBytes(this.arena + this.arenaLen, key, n);
    store<u32>(this.offsets + ((<usize>id) << 2), this.arenaLen);
    store<u32>(this.lengths + ((<usize>id) << 2), n);
    this.arenaLen += n;
    store<u32>(this.slots + ((<usize>slot) << 2), id + 1);
    store<u32>(this.hashes + ((<usize>slot) << 2), hash);
    // Half full at most, so a miss ends within a few slots.
    if (this.count * 2 > this.mask + 1) this.rehash();
    return id;
  }

  rehash(): void {
    const oldSlots = this.slots;
    const oldHashes = this.hashes;
    const oldCap = this.mask + 1;
    this.allocTable(oldCap * 2);
    for (let i: u32 = 0; i < oldCap; i++) {
      const entry = load<u32>(oldSlots + ((<usize>i) << 2));
      if (entry == 0) continue;
      const hash = load<u32>(oldHashes + ((<usize>i) << 2));
      let slot = hash & this.mask;
      while (load<u32>(this.slots + ((<usize>slot) << 2)) != 0) slot = (slot + 1) & this.mask;
      store<u32>(this.slots + ((<usize>slot) << 2), entry);
      store<u32>(this.hashes + ((<usize>slot) << 2), hash);
    }
    heap.free(oldSlots);
    heap.free(oldHashes);
  }
}

/** Bytes up to which `copyBytes` moves words itself. */
const SHORT_COPY: u32 = 64;

/**
 * Copies `n` bytes in 8-byte words, writing and reading up to 7 bytes past the end (every
 * buffer here has PAD spare bytes): V8 runs `memory.copy` through a call into the engine, which
 * cost more than the copy for the short strings that make up a key (bench:query).
 */
function copyBytes(dst: usize, src: usize, n: u32): void {
  if (n > SHORT_COPY) {
    memory.copy(dst, src, n);
    return;
  }
  for (let i: u32 = 0; i < n; i += 8) store<u64>(dst + i, load<u64>(src + i));
}

/**
 * A multiply-and-shift hash over 8-byte words. The bytes after the key are padding, so the last
 * word is read whole and masked.
 */
function hashBytes(p: usize, n: u32): u32 {
  let h: u64 = 0x9e3779b97f4a7c15 ^ (<u64>n);
  let i: u32 = 0;
  while (i + 8 <= n) {
    h = (h ^ load<u64>(p + i)) * 0xff51afd7ed558ccd;
    h ^= h >> 32;
    i += 8;
  }
  if (i < n) {
    const bits: u64 = (n - i) * 8;
    const tail = load<u64>(p + i) & (((<u64>1) << bits) - 1);
    h = (h ^ tail) * 0xc4ceb9fe1a85ec53;
    h ^= h >> 29;
  }
  return <u32>(h ^ (h >> 32));
}

/** Both spans are followed by padding, so the last word is compared masked. */
function equalBytes(a: usize, b: usize, n: u32): bool {
  let i: u32 = 0;
  while (i + 8 <= n) {
    if (load<u64>(a + i) != load<u64>(b + i)) return false;
    i += 8;
  }
  if (i == n) return true;
  const bits: u64 = (n - i) * 8;
  const mask = ((<u64>1) << bits) - 1;
  return ((load<u64>(a + i) ^ load<u64>(b + i)) & mask) == 0;
}

/** One event type: its program, its chunk and its dictionaries. */
class EventType {
  program: usize;
  /** Per direct column: data offset, bytes per row, validity offset; then per group: id offset. */
  dataOffset: StaticArray<u32>;
  rowBytes: StaticArray<u32>;
  validityOffset: StaticArray<u32>;
  nullFlagsOffset: u32;
  idOffset: StaticArray<u32>;
  chunk: usize;
  chunkBytes: u32;
  validityStart: u32;
  timeColumn: i32;
  groups: StaticArray<Dictionary>;
  rows: u32 = 0;

  constructor(program: usize, layout: usize) {
    this.program = program;
    const columns = load<u32>(layout);
    const groups = load<u32>(layout + 4);
    this.chunkBytes = load<u32>(layout + 8);
    this.timeColumn = load<i32>(layout + 12);
    this.nullFlagsOffset = load<u32>(layout + 16);
    this.validityStart = load<u32>(layout + 20);
    const dataOffset = new StaticArray<u32>(columns);
    const rowBytes = new StaticArray<u32>(columns);
    const validityOffset = new StaticArray<u32>(columns);
    let at = layout + 24;
    for (let c: i32 = 0; c < <i32>columns; c++) {
      dataOffset[c] = load<u32>(at);
      rowBytes[c] = load<u32>(at + 4);
      validityOffset[c] = load<u32>(at + 8);
      at += 12;
    }
    const idOffset = new StaticArray<u32>(groups);
    const dictionaries = new StaticArray<Dictionary>(groups);
    for (let g: i32 = 0; g < <i32>groups; g++) {
      idOffset[g] = load<u32>(at);
      at += 4;
      dictionaries[g] = new Dictionary();
    }
    this.dataOffset = dataOffset;
    this.rowBytes = rowBytes;
    this.validityOffset = validityOffset;
    this.idOffset = idOffset;
    this.groups = dictionaries;
    this.chunk = heap.alloc(<usize>this.chunkBytes);
    memory.fill(this.chunk, 0, <usize>this.chunkBytes);
    this.resetChunk();
  }

  /** Every row valid again, no NULL flags, no rows. */
  resetChunk(): void {
    const validity = this.chunk + <usize>this.validityStart;
    memory.fill(validity, 0xff, <usize>(this.nullFlagsOffset - this.validityStart));
    memory.fill(this.chunk + <usize>this.nullFlagsOffset, 0, <usize>this.rowBytes.length);
    this.rows = 0;
  }
}

const types = new StaticArray<EventType | null>(MAX_TYPES);
let typeCount: i32 = 0;

/**
 * Installs the program and layout of event type `index` (its branch in the files' union).
 * Layout words: column count, group count, chunk bytes, time column, NULL flags offset, first
 * validity offset; per column its data offset, bytes per row and validity offset; per group the
 * offset of its id column.
 */
export function configure(index: i32, program: usize, layout: usize): void {
  types[index] = new EventType(program, layout);
  if (index >= typeCount) typeCount = index + 1;
}

// The cursor over the records given to `begin`.
let inputPtr: usize = 0;
let inputCap: u32 = 0;
let pos: usize = 0;
let end: usize = 0;
let remaining: u32 = 0;
let fixedBranch: i32 = -1;
let err: i32 = 0;
let recordIndex: u32 = 0;
let recordStart: usize = 0;
let fullType: i32 = -1;
let skippedRecords: u32 = 0;
let since: i64 = i64.MIN_VALUE;
let until: i64 = i64.MAX_VALUE;

/** Room for `len` bytes of records, and padding after them; returns where to write them. */
export function input(len: u32): usize {
  if (len > inputCap) {
    if (inputPtr != 0) heap.free(inputPtr);
    inputCap = len;
    inputPtr = heap.alloc(<usize>len + PAD);
  }
  return inputPtr;
}

/** Zeroes the padding after the `len` bytes of records written through `input`. */
export function pad(len: u32): void {
  memory.fill(inputPtr + len, 0, PAD);
}

/** Records whose `time` falls outside [from, to) are read and not kept. */
export function setWindow(from: i64, to: i64): void {
  since = from;
  until = to;
}

/**
 * Starts on `count` records in the `len` bytes written through `input`. With `branch` -1 each
 * record opens with its union branch (a container file's block); otherwise every record is of
 * event type `branch`.
 */
export function begin(len: u32, count: u32, branch: i32): void {
  pos = inputPtr;
  end = inputPtr + len;
  remaining = count;
  fixedBranch = branch;
  err = 0;
  recordIndex = 0;
  skippedRecords = 0;
}

function readLong(): i64 {
  let b = <u64>load<u8>(pos++);
  let n = b & 0x7f;
  let shift: u64 = 7;
  while (b & 0x80) {
    if (shift > 63) {
      err = ERR_VARINT;
      return 0;
    }
    b = <u64>load<u8>(pos++);
    n |= (b & 0x7f) << shift;
    shift += 7;
  }
  return (<i64>(n >> 1)) ^ -(<i64>(n & 1));
}

/** Reads a ["null", T] branch, a zig-zag varint of one byte: 0 for null, 2 for branch 1. */
function present(): bool {
  const branch = load<u8>(pos++);
  if (branch != 0 && branch != 2) err = ERR_NULL_BRANCH;
  return branch == 2;
}

/** A length that must fit in what is left of the block. */
function readLength(): u32 {
  const n = readLong();
  if (n < 0) {
    err = ERR_LENGTH;
    return 0;
  }
  if (pos > end || <u64>n > <u64>(end - pos)) {
    err = ERR_TRUNCATED;
    return 0;
  }
  return <u32>n;
}

/** Steps over a value of the type tree node at word `node` of `program`. */
function skip(program: usize, node: u32): void {
  const at = program + ((<usize>node) << 2);
  switch (load<i32>(at)) {
    case T_VARINT:
      readLong();
      break;
    case T_BOOLEAN:
      pos++;
      break;
    case T_BYTES: {
      // Not `pos += readLength()`: that would add to the position from before the length.
      const n = readLength();
      pos += n;
      break;
    }
    case T_FIXED:
      pos += <usize>load<u32>(at + 4);
      break;
    case T_FLOAT:
      pos += 4;
      break;
    case T_DOUBLE:
      pos += 8;
      break;
    case T_NULLABLE:
      if (present()) skip(program, load<u32>(at + 4));
      break;
    case T_RECORD: {
      const fields = load<u32>(at + 4);
      for (let f: u32 = 0; f < fields && err == 0; f++) {
        skip(program, load<u32>(at + 8 + ((<usize>f) << 2)));
      }
      break;
    }
    case T_ARRAY:
    case T_MAP: {
      const item = load<u32>(at + 4);
      const isMap = load<i32>(at) == T_MAP;
      for (;;) {
        let count = readLong();
        if (count == 0 || err != 0) break;
        if (count < 0) {
          // A negative count is followed by the block's size in bytes, which is not needed.
          count = -count;
          readLong();
        }
        // Every item takes at least one byte, so a count beyond the block is damage.
        if (pos > end || <u64>count > <u64>(end - pos)) {
          err = ERR_TRUNCATED;
          break;
        }
        for (let i: i64 = 0; i < count && err == 0; i++) {
          if (isMap) {
            const n = readLength();
            pos += n;
          }
          skip(program, item);
          if (pos > end) err = ERR_TRUNCATED;
        }
      }
      break;
    }
  }
}

function setNull(t: EventType, column: i32, row: u32): void {
  const at = t.chunk + <usize>t.validityOffset[column] + ((<usize>row) >> 3);
  const bit: u32 = 1 << (row & 7);
  store<u8>(at, <u8>((<u32>load<u8>(at)) & ~bit));
  store<u8>(t.chunk + <usize>t.nullFlagsOffset + column, 1);
}

function setValid(t: EventType, column: i32, row: u32): void {
  const at = t.chunk + <usize>t.validityOffset[column] + ((<usize>row) >> 3);
  const bit: u32 = 1 << (row & 7);
  store<u8>(at, <u8>((<u32>load<u8>(at)) | bit));
}

function nullActions(t: EventType, list: usize, row: u32): void {
  const count = load<u32>(list);
  for (let i: u32 = 0; i < count; i++) {
    const kind = load<i32>(list + 4 + ((<usize>i) << 3));
    const target = load<i32>(list + 8 + ((<usize>i) << 3));
    if (kind == NULL_COLUMN) setNull(t, target, row);
    else unchecked(t.groups[target]).append(false, 0, 0);
  }
}

/** Decodes one record into row `row` of its type's chunk; stops at the first error. */
function decodeRecord(t: EventType, row: u32): void {
  const program = t.program;
  const chunk = t.chunk;
  let pc: usize = 0;
  for (;;) {
    const at = program + (pc << 4);
    const op = load<i32>(at);
    const flags = load<i32>(at + 4);
    const a = load<i32>(at + 8);
    pc++;
    if (op == OP_END) return;
    if ((flags & FLAG_NULLABLE) != 0 && !present()) {
      if (err != 0) return;
      if (op == OP_RECORD) {
        nullActions(t, program + ((<usize>load<u32>(at + 12)) << 2), row);
        pc = <usize>a;
      } else if (op == OP_STRING || op == OP_COMPLEX) {
        unchecked(t.groups[a]).append(false, 0, 0);
      } else if (op != OP_FIXED) {
        setNull(t, a, row);
      }
      continue;
    }
    switch (op) {
      case OP_INT: {
        const value = readLong();
        store<i32>(chunk + <usize>unchecked(t.dataOffset[a]) + ((<usize>row) << 2), <i32>value);
        if ((flags & FLAG_VALIDITY) != 0) setValid(t, a, row);
        break;
      }
      case OP_LONG: {
        const value = readLong();
        store<i64>(chunk + <usize>unchecked(t.dataOffset[a]) + ((<usize>row) << 3), value);
        if ((flags & FLAG_VALIDITY) != 0) setValid(t, a, row);
        break;
      }
      case OP_BOOLEAN: {
        const value = load<u8>(pos++);
        if (value > 1) err = ERR_BOOLEAN;
        store<u8>(chunk + <usize>unchecked(t.dataOffset[a]) + <usize>row, value);
        if ((flags & FLAG_VALIDITY) != 0) setValid(t, a, row);
        break;
      }
      case OP_ENUM: {
        const value = readLong();
        if (value < 0 || value >= <i64>load<i32>(at + 12)) err = ERR_ENUM;
        const data = chunk + <usize>unchecked(t.dataOffset[a]);
        if (unchecked(t.rowBytes[a]) == 1) store<u8>(data + <usize>row, <u8>value);
        else store<u16>(data + ((<usize>row) << 1), <u16>value);
        if ((flags & FLAG_VALIDITY) != 0) setValid(t, a, row);
        break;
      }
      case OP_STRING: {
        const start = pos;
        const n = readLength();
        if (err != 0) return;
        pos += n;
        unchecked(t.groups[a]).append(true, start, <u32>(pos - start));
        break;
      }
      case OP_COMPLEX: {
        const start = pos;
        skip(program, load<u32>(at + 12));
        if (err != 0 || pos > end) {
          if (err == 0) err = ERR_TRUNCATED;
          return;
        }
        unchecked(t.groups[a]).append(true, start, <u32>(pos - start));
        break;
      }
      case OP_FIXED:
        pos += <usize>a;
        break;
      case OP_RECORD:
        break;
    }
    if (err != 0) return;
  }
}

function fail(code: i32): i32 {
  err = code;
  return code;
}

/**
 * Decodes records until they are done (0), a chunk is full (1: `fullType` says whose; copy it
 * out, `resetChunk`, and call again), or a record is damaged (a negative ERR_ code).
 */
export function run(): i32 {
  while (remaining > 0) {
    recordStart = pos;
    let branch = fixedBranch;
    if (branch < 0) {
      const value = readLong();
      if (err != 0) return fail(err);
      if (value < 0 || value >= <i64>typeCount || types[<i32>value] == null) {
        return fail(ERR_BRANCH);
      }
      branch = <i32>value;
    }
    const t = changetype<EventType>(types[branch]);
    const row = t.rows;
    decodeRecord(t, row);
    if (err != 0) return fail(err);
    if (pos > end) return fail(ERR_TRUNCATED);
    remaining--;
    recordIndex++;
    const groups = t.groups;
    const time =
      t.timeColumn < 0
        ? 0
        : load<i64>(t.chunk + <usize>t.dataOffset[t.timeColumn] + ((<usize>row) << 3));
    if (time < since || time >= until) {
      for (let g = 0; g < groups.length; g++) unchecked(groups[g]).scratchLen = 0;
      skippedRecords++;
      continue;
    }
    for (let g = 0; g < groups.length; g++) {
      const id = unchecked(groups[g]).close();
      store<u32>(t.chunk + <usize>unchecked(t.idOffset[g]) + ((<usize>row) << 2), id);
    }
    t.rows = row + 1;
    if (t.rows == CHUNK_ROWS) {
      fullType = branch;
      return STATUS_FULL;
    }
  }
  return STATUS_DONE;
}

/** The type whose chunk filled, after `run` returned 1. */
export function full(): i32 {
  return fullType;
}

/** Index, among those given to `begin`, of the record `run` is on (the damaged one). */
export function errorRecord(): u32 {
  return recordIndex;
}

/** Offset in the input of the damaged record's start. */
export function errorOffset(): u32 {
  return <u32>(recordStart - inputPtr);
}

/** Records since `begin` that fell outside the window. */
export function skipped(): u32 {
  return skippedRecords;
}

function typeAt(index: i32): EventType {
  return changetype<EventType>(types[index]);
}

export function chunkPtr(index: i32): usize {
  return typeAt(index).chunk;
}

export function chunkRows(index: i32): u32 {
  return typeAt(index).rows;
}

export function resetChunk(index: i32): void {
  typeAt(index).resetChunk();
}

export function keyCount(index: i32, group: i32): u32 {
  return typeAt(index).groups[group].count;
}

/** Bytes all keys of the group take. */
export function keyBytes(index: i32, group: i32): u32 {
  return typeAt(index).groups[group].arenaLen;
}

export function keyPtr(index: i32, group: i32, id: u32): usize {
  const d = typeAt(index).groups[group];
  return d.arena + <usize>load<u32>(d.offsets + ((<usize>id) << 2));
}

export function keyLength(index: i32, group: i32, id: u32): u32 {
  return load<u32>(typeAt(index).groups[group].lengths + ((<usize>id) << 2));
}

export function resetKeys(index: i32, group: i32): void {
  typeAt(index).groups[group].reset();
}
