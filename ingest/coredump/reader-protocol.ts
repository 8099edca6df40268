/**
 * What the coredump server and its reader threads (reader-thread.ts) share, in one place: the
 * messages and the layout of the shared memory.
 *
 * Each reader thread owns READ_SLOTS slots of READ_CHUNK_BYTES in one SharedArrayBuffer. For a
 * core it fills a free slot with a blocking recv(MSG_WAITALL), marks it taken, posts a `chunk`
 * message naming it, and goes on with the next free slot; the main thread works on the bytes in
 * place (no copy) and marks the slot free again once every holder is done with it (the
 * analysis and, for a stored core, the compressor). The thread never fills a slot the main
 * thread still holds, so the slots are the stream's back-pressure as well: when the main thread
 * or the compressor behind it falls behind, the thread waits, the socket fills and the dumping
 * kernel waits. Message order is the stream's order; slots come back in any order.
 *
 * A core that is only analysed (not stored) is handed to the thread once its ranges are
 * planned (`keep`): from the next chunk on, the thread copies the planned ranges itself into
 * their shared memory (ranges.ts SharedRanges), gives each slot back at once and posts nothing
 * until the end, so the main thread no longer wakes for every chunk. Chunks posted before the
 * thread took the hand-over are the main thread's; the thread's `end` says how many bytes it
 * kept after them.
 *
 * The thread takes the lowest free slot. A core that is only analysed gives each slot back at
 * once, so its reads alternate between the first two slots, which stay in the CPU's cache like
 * a C server's one buffer; going round all eight cost the reader about 15% more CPU in the
 * kernel's copy to user memory (`npm run bench:cores`, docs/coredumps.md).
 */
import type { SharedRanges } from './ranges.js';

/** Bytes per recv: a whole slot. The kernel's socket buffer holds about 200 KiB of it. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/**
 * Slots per reader thread, at most 31 (one bit each in CONTROL_FREE). 8 MiB in all: what a
 * stored core may queue in front of the compressor, and far more read-ahead than a core needs
 * while the analyser plans its ranges (a few milliseconds).
 */
export const READ_SLOTS = 8;
/** CONTROL_FREE with every slot free. */
export const ALL_SLOTS_FREE = (1 << READ_SLOTS) - 1;

// The control block: Int32 words, read and written with Atomics.

/** Bit n set: slot n is free. Only the thread clears bits, only the main thread sets them. */
export const CONTROL_FREE = 0;
/** Non-zero: end the current stream before the next recv. Cleared by the main thread. */
export const CONTROL_STOP = 1;
/** Bumped after every change to the words above; the thread waits on it for a free slot. */
export const CONTROL_BELL = 2;
/** Non-zero: a `keep` message waits on the thread's port. Cleared by the thread as it takes it. */
export const CONTROL_KEEP = 3;
export const CONTROL_WORDS = 4;

/** `workerData` of a reader thread. */
export interface ReaderThreadData {
  /** READ_SLOTS * READ_CHUNK_BYTES bytes. */
  slots: SharedArrayBuffer;
  /** CONTROL_WORDS Int32 words. */
  control: SharedArrayBuffer;
}

/** Main thread to reader: read the core on `fd` (a blocking stream socket) to its end. */
export interface ReadCore {
  type: 'read';
  fd: number;
  /** Numbers the reads of one thread, so a `keep` that comes too late is never applied. */
  core: number;
}

/**
 * Main thread to reader, during the read of `core`: copy the planned `ranges` out of the rest
 * of the stream yourself, and take at most `maxBytes` of the stream in all (the size cap,
 * counted from its first byte); past it, shut the socket's read side and end.
 */
export interface KeepRanges {
  type: 'keep';
  core: number;
  ranges: SharedRanges;
  maxBytes: number;
}

export type ToReader = ReadCore | KeepRanges;

/** Bytes the thread took after a `keep`, and whether the size cap cut the stream. */
export interface Kept {
  bytes: number;
  truncated: boolean;
}

/**
 * Reader to main thread. `ready` comes once, when the thread has loaded its modules. After
 * `end` or `error` the thread takes no more bytes from `fd`.
 */
export type FromReader =
  | { type: 'ready' }
  | { type: 'chunk'; slot: number; bytes: number }
  | { type: 'end'; kept: Kept }
  | { type: 'error'; message: string };
