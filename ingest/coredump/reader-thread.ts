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
import { parentPort, workerData } from 'node:worker_threads';

import { SyscallError } from '../../common/errors.js';
import { ERRNO, MSG_WAITALL, recv } from '../../native/libc.js';
import {
  CONTROL_BELL,
  CONTROL_FREE,
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

port.on('message', (msg: ToReader) => {
  const last = readCore(msg.fd);
  port.postMessage(last);
});

/** Reads `fd` to its end, a stop, or an error, posting each filled slot; returns the last word. */
function readCore(fd: number): FromReader {
  for (;;) {
    const slot = freeSlot();
    if (slot < 0) return { type: 'end' };
    const last = fill(fd, slot);
    if (last === null) continue;
    // Nothing for the main thread in this slot: it is free again.
    Atomics.or(control, CONTROL_FREE, 1 << slot);
    return last;
  }
}

/** Fills `slot` and posts it; returns null, or the last word at the end or on an error. */
function fill(fd: number, slot: number): FromReader | null {
  let bytes: number;
  try {
    bytes = recvWhole(fd, slots[slot] as Buffer);
  } catch (err) {
    return { type: 'error', message: err instanceof Error ? err.message : String(err) };
  }
  if (bytes === 0) return { type: 'end' };
  port?.postMessage({ type: 'chunk', slot, bytes } satisfies FromReader);
  return null;
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
