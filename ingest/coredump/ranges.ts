/**
 * The byte ranges of a core the analyser asked for, filled as the stream passes them. Only
 * these and the head are ever held: a core of any size costs the agent at most the caps below.
 */
import type { CoreByteRange, CoreRangeBytes } from './analyser.js';

/** The head read before the first plan: the ELF header, program headers and usually the notes. */
export const HEAD_INITIAL_BYTES = 64 * 1024;
/**
 * The most head a plan may ask for (notes of a process with thousands of threads or files).
 * Equal to the analyser's own head cap, so no plan it can make is cut short here.
 */
export const HEAD_MAX_BYTES = 16 * 1024 * 1024;
/** Bytes of ranges kept per core; ranges beyond it are dropped and the analysis is told. */
export const RANGES_MAX_BYTES = 16 * 1024 * 1024;
/** Ranges kept per core. */
export const RANGES_MAX_COUNT = 8192;

interface Slot {
  offset: number;
  end: number;
  bytes: Buffer;
}

/**
 * The slots of a CoreRanges in a form a reader thread can fill (reader-protocol.ts): their
 * bytes live in shared memory, so the thread and the main thread fill disjoint parts of the
 * stream into the same ranges.
 */
export interface SharedRanges {
  /** Each slot's stream offset, stream end and byte offset in `bytes`, three numbers a slot. */
  table: Float64Array;
  bytes: SharedArrayBuffer;
}

/** Fills ranges from the stream as it passes; the ranges are sorted by offset. */
export class RangeFiller {
  readonly #slots: readonly Slot[];
  /** Index of the first slot not yet wholly behind the stream. */
  #first = 0;

  constructor(slots: readonly Slot[]) {
    this.#slots = slots;
  }

  /** A filler over the slots of `shared`, for the thread that was handed them. */
  static of(shared: SharedRanges): RangeFiller {
    const slots: Slot[] = [];
    for (let i = 0; i + 2 < shared.table.length; i += 3) {
      const offset = shared.table[i] as number;
      const end = shared.table[i + 1] as number;
      const at = shared.table[i + 2] as number;
      slots.push({ offset, end, bytes: Buffer.from(shared.bytes, at, end - offset) });
    }
    return new RangeFiller(slots);
  }

  /** Copies the parts of `chunk` (stream bytes from `at`) that fall in a range. */
  fill(at: number, chunk: Uint8Array): void {
    const end = at + chunk.length;
    for (let i = this.#first; i < this.#slots.length; i++) {
      const s = this.#slots[i] as Slot;
      if (s.offset >= end) break;
      if (s.end <= at) {
        if (i === this.#first) this.#first++;
        continue;
      }
      const from = Math.max(s.offset, at);
      const to = Math.min(s.end, end);
      s.bytes.set(chunk.subarray(from - at, to - at), from - s.offset);
    }
  }
}

export class CoreRanges {
  readonly #slots: Slot[] = [];
  readonly #filler: RangeFiller;
  readonly #shared: SharedRanges;
  /** Why some ranges were dropped, or null. */
  readonly note: string | null = null;
  /**
   * The end of the furthest range asked for. The plan reads the program headers, so a stream
   * that ends before it was cut short (the dump was interrupted, e.g. by SIGKILL).
   */
  readonly plannedEnd: number = 0;

  constructor(ranges: readonly CoreByteRange[]) {
    const sorted = ranges
      .filter((r) => Number.isSafeInteger(r.offset) && r.offset >= 0 && r.length > 0)
      .sort((a, b) => a.offset - b.offset);
    const kept: { offset: number; end: number }[] = [];
    let bytes = 0;
    let dropped = 0;
    for (const r of sorted) {
      this.plannedEnd = Math.max(this.plannedEnd, r.offset + r.length);
      const length = Math.min(r.length, RANGES_MAX_BYTES);
      if (kept.length >= RANGES_MAX_COUNT || bytes + length > RANGES_MAX_BYTES) {
        dropped++;
        continue;
      }
      bytes += length;
      kept.push({ offset: r.offset, end: r.offset + length });
    }
    if (dropped > 0) {
      this.note = `${dropped} of ${sorted.length} requested ranges dropped at the ${RANGES_MAX_BYTES}-byte cap`;
    }
    // One shared block for every range, zeroed as Buffer.alloc would be.
    this.#shared = {
      table: new Float64Array(kept.length * 3),
      bytes: new SharedArrayBuffer(bytes),
    };
    let at = 0;
    for (const [i, r] of kept.entries()) {
      this.#shared.table.set([r.offset, r.end, at], i * 3);
      this.#slots.push({ ...r, bytes: Buffer.from(this.#shared.bytes, at, r.end - r.offset) });
      at += r.end - r.offset;
    }
    this.#filler = new RangeFiller(this.#slots);
  }

  /** Copies the parts of `chunk` (stream bytes from `at`) that fall in a requested range. */
  fill(at: number, chunk: Uint8Array): void {
    this.#filler.fill(at, chunk);
  }

  /** The ranges for a reader thread to fill the rest of the stream into (RangeFiller.of). */
  shared(): SharedRanges {
    return this.#shared;
  }

  /** The ranges, cut to what the stream actually held (`size` bytes). */
  result(size: number): CoreRangeBytes[] {
    const out: CoreRangeBytes[] = [];
    for (const s of this.#slots) {
      if (s.offset >= size) continue;
      const length = Math.min(s.end, size) - s.offset;
      out.push({
        offset: s.offset,
        bytes: new Uint8Array(s.bytes.buffer, s.bytes.byteOffset, length),
      });
    }
    return out;
  }
}
