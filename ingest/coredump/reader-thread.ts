/**
 * A reader thread of the coredump server: reads one core at a time from its socket into the
 * slots it shares with the main thread (reader-protocol.ts), with nothing between two reads but
 * this loop.
 *
 * Why a thread of its own: the kernel's socket buffer holds about 200 KiB, a fifth of a
 * millisecond of core at the rate a C server takes it. Every gap between one recv's return and
 * the next recv's start leaves the buffer full and the dumping process blocked. Reads handed
 * one at a time to libuv's pool (koffi's asynchronous calls) paid a return to the main event
 * loop and a hand-off back per chunk, and fell well short of a C server reading the same way;
 * this loop waits for nothing but a free slot (docs/coredumps.md, `npm run bench:cores`).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { SyscallError } from '../../common/errors.js';
import { ERRNO, MSG_WAITALL, recv, SHUT_RD } from '../../native/libc.js';
import { shutdownQuiet } from '../../native/quiet.js';
import { RangeFiller } from './ranges.js';
import {
  CONTROL_BELL,
  CONTROL_FREE,
  CONTROL_KEEP,
  CONTROL_STOP,
  READ_CHUNK_BYTES,
  READ_SLOTS,
  type FromReader,
  type ReaderThreadData,
  type ToReader,
} from './reader-protocol.js';

const port = parentPort;
if (port === null) throw new Error('reader-thread.js runs as a worker thread only');
const data = workerData as ReaderThreadData;
const control = new Int32Array(data.control);
const slots = Array.from({ length: READ_SLOTS }, (_, i) =>
  Buffer.from(data.slots, i * READ_CHUNK_BYTES, READ_CHUNK_BYTES),
);

// Every module is loaded once this line runs: from here the thread may be terminated safely.
port.postMessage({ type: 'ready' } satisfies FromReader);

port.on('message', (msg: ToReader) => {
  // A `keep` that arrives after its core ended is of no use any more.
  if (msg.type !== 'read') return;
  port.postMessage(readCore(msg.fd, msg.core));
});

/** What the thread does with the chunks it keeps (after a `keep`). */
interface Keeping {
  ranges: RangeFiller;
  maxBytes: number;
  /** Bytes kept so far. */
  bytes: number;
}

/**
 * Reads `fd` to its end, a stop, or an error, posting each filled slot until a `keep` hands it
 * the ranges; returns the last word.
 */
function readCore(fd: number, core: number): FromReader {
  /** Bytes taken from the stream, posted or kept. */
  let read = 0;
  let keeping: Keeping | null = null;
  const end = (truncated = false): FromReader => ({
    type: 'end',
    kept: { bytes: keeping?.bytes ?? 0, truncated },
  });
  for (;;) {
    const slot = freeSlot();
    if (slot < 0) return end();
    const buf = slots[slot] as Buffer;
    let bytes: number;
    try {
      bytes = recvWhole(fd, buf);
    } catch (err) {
      giveBack(slot);
      return { type: 'error', message: err instanceof Error ? err.message : String(err) };
    }
    if (bytes === 0) {
      giveBack(slot);
      return end();
    }
    keeping ??= takeKeep(core);
    if (keeping === null) {
      port?.postMessage({ type: 'chunk', slot, bytes } satisfies FromReader);
      read += bytes;
      continue;
    }
    const taken = Math.min(bytes, Math.max(0, keeping.maxBytes - read));
    keeping.ranges.fill(read, buf.subarray(0, taken));
    keeping.bytes += taken;
    read += taken;
    giveBack(slot);
    if (taken < bytes) {
      // Past the size cap: the kernel's next write ends the dump.
      shutdownQuiet(fd, SHUT_RD);
      return end(true);
    }
  }
}

/** The `keep` for `core` when the main thread has posted one, else null. */
function takeKeep(core: number): Keeping | null {
  if (Atomics.load(control, CONTROL_KEEP) === 0 || port === null) return null;
  for (let got = receiveMessageOnPort(port); got !== undefined; got = receiveMessageOnPort(port)) {
    const msg = got.message as ToReader;
    if (msg.type !== 'keep' || msg.core !== core) continue;
    Atomics.store(control, CONTROL_KEEP, 0);
    return { ranges: RangeFiller.of(msg.ranges), maxBytes: msg.maxBytes, bytes: 0 };
  }
  return null;
}

/** The slot holds nothing for the main thread: it is free again. */
function giveBack(slot: number): void {
  Atomics.or(control, CONTROL_FREE, 1 << slot);
}

/** Takes the lowest free slot, waiting for the main thread to give one back; -1 on a stop. */
function freeSlot(): number {
  for (;;) {
    // The bell is read first: a release or a stop after this line changes it, so the wait
    // below returns at once instead of missing the change.
    const bell = Atomics.load(control, CONTROL_BELL);
    if (Atomics.load(control, CONTROL_STOP) !== 0) return -1;
    const free = Atomics.load(control, CONTROL_FREE);
    if (free !== 0) {
      const slot = 31 - Math.clz32(free & -free);
      Atomics.and(control, CONTROL_FREE, ~(1 << slot));
      return slot;
    }
    Atomics.wait(control, CONTROL_BELL, bell);
  }
}

/**
 * recv(MSG_WAITALL) of a whole slot: returns less only at the end of the stream, after a
 * shutdown, or when a signal interrupted it after some bytes; 0 at the end. A signal before
 * any byte (EINTR) is read again.
 */
function recvWhole(fd: number, buf: Buffer): number {
  for (;;) {
    try {
      const n = recv(fd, buf, buf.length, MSG_WAITALL);
      if (n < 0) throw new Error(`recv(${fd}): the core socket is non-blocking`);
      return n;
    } catch (err) {
      if (err instanceof SyscallError && err.errno === ERRNO.EINTR) continue;
      throw err;
    }
  }
}
