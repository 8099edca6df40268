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

export class CoreRanges {
  readonly #slots: Slot[] = [];
  /** Index of the first slot not yet wholly behind the stream. */
  #first = 0;
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
    let bytes = 0;
    let dropped = 0;
    for (const r of sorted) {
      this.plannedEnd = Math.max(this.plannedEnd, r.offset + r.length);
      const length = Math.min(r.length, RANGES_MAX_BYTES);
      if (this.#slots.length >= RANGES_MAX_COUNT || bytes + length > RANGES_MAX_BYTES) {
        dropped++;
        continue;
      }
      bytes += length;
      this.#slots.push({ offset: r.offset, end: r.offset + length, bytes: Buffer.alloc(length) });
    }
    if (dropped > 0) {
      this.note = `${dropped} of ${sorted.length} requested ranges dropped at the ${RANGES_MAX_BYTES}-byte cap`;
    }
  }

  /** Copies the parts of `chunk` (stream bytes from `at`) that fall in a requested range. */
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
