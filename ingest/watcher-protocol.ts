/**
 * The messages between the agent's main thread and the exit watcher's thread
 * (ingest/watcher-thread.ts), and the shared memory both read, in one place.
 *
 * The watcher thread never returns to its event loop while it watches: it blocks in
 * `epoll_wait`. Commands reach it on a MessagePort it reads with `receiveMessageOnPort`, and
 * the main thread says there is one by bumping `SHARED_COMMANDS` and writing the wake eventfd.
 * Raw exit records leave in batches whose buffer is transferred, not copied. Counters the main
 * thread reads at any time (status line, metrics) live in a SharedArrayBuffer the watcher
 * thread writes after every wake.
 */
import type { MessagePort } from 'node:worker_threads';

import type { RedactionRule } from './redaction.js';
import type { WatcherFeatures } from './watcher.js';

/** The watcher thread's name in `top -H` and /proc/PID/task/TID/comm. */
export const WATCHER_THREAD_NAME = 'pidstream-watch';

/** What the watcher thread is started with (Worker `workerData`). */
export interface WatcherThreadData {
  redactionRules: readonly RedactionRule[];
  zombieTimeoutMs: number;
  /** Records per batch; a batch also leaves `batchLingerMs` after its first record. */
  batchSize: number;
  batchLingerMs: number;
  /** The eventfd the main thread writes to wake the watcher; the main thread owns it. */
  wakeFd: number;
  /** SHARED_BYTES, laid out as below. */
  shared: SharedArrayBuffer;
  /** The port the watcher reads commands from (transferred). */
  commands: MessagePort;
}

/** Main thread to watcher thread, on the command port. */
export type ToWatcher =
  | { type: 'start' }
  | { type: 'stop' }
  /** A Coredump event with `seq` was written for the process: its exit must carry it. */
  | { type: 'link-coredump'; pid: number; pidfsIno: number; seq: number };

/** Watcher thread to main thread, on the worker's own port. */
export type FromWatcher =
  /** Subscribed and probed; waiting for 'start'. */
  | { type: 'ready'; features: WatcherFeatures }
  /** The start-up scan is done and the loop runs. */
  | { type: 'started'; found: number }
  /** `count` raw exit records (workers/protocol.ts), in the order the exits were seen. */
  | { type: 'batch'; batch: ArrayBuffer; count: number }
  | { type: 'overflow'; found: number }
  | { type: 'degraded'; feature: string; since: string; detail: string }
  | { type: 'log'; level: 'info' | 'warn' | 'error'; fields: object; msg: string }
  /** epoll_wait failed: the watcher cannot go on. */
  | { type: 'failed'; message: string };

/*
 * Shared memory: an Int32Array head for what needs Atomics, then Float64 counters written
 * only by the watcher thread after each wake. Counters are read without Atomics: an aligned
 * 8-byte store is not torn on x86-64, and a reader at most sees the previous wake's value.
 */
/** Int32 index: commands posted and not yet taken (Atomics). */
export const SHARED_COMMANDS = 0;
const HEAD_INT32S = 2;

export const COUNTER_NAMES = [
  /** Returns from epoll_wait. */
  'wakes',
  'watched',
  'notices',
  'forks',
  'execs',
  'lostRaces',
  'zombies',
  'overflows',
  'fdLimit',
  'reapedBeforeNotice',
  'exitsPidfd',
  'exitsProcConnector',
  'exitsZombieTimeout',
] as const;
export type CounterName = (typeof COUNTER_NAMES)[number];

export const COUNTERS_OFFSET = HEAD_INT32S * 4;
export const SHARED_BYTES = COUNTERS_OFFSET + COUNTER_NAMES.length * 8;

/** Index of each counter in the Float64Array at COUNTERS_OFFSET. */
export const COUNTER: Record<CounterName, number> = Object.fromEntries(
  COUNTER_NAMES.map((name, i) => [name, i]),
) as Record<CounterName, number>;

export function sharedViews(shared: SharedArrayBuffer): {
  head: Int32Array;
  counters: Float64Array;
} {
  return {
    head: new Int32Array(shared, 0, HEAD_INT32S),
    counters: new Float64Array(shared, COUNTERS_OFFSET, COUNTER_NAMES.length),
  };
}
