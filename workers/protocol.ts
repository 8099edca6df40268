/**
 * The messages between the agent's main thread and its Piscina workers, in one place.
 *
 * Exits travel as batches of fixed-layout binary records in one ArrayBuffer, transferred (not
 * copied) to the worker; encoded Avro bodies come back the same way. The layout below is the
 * whole contract: `RawExitWriter` is used by ingest, `readRawExit` by the workers.
 */

import type { CoreAnalysis, CorePlan } from './analyser/index.js';

/** The worker threads' name in `top -H` and /proc/PID/task/TID/comm. */
export const WORKER_THREAD_NAME = 'pidstream-work';

export const RECORD_EXIT = 1;

export const SOURCE_PIDFD = 0;
export const SOURCE_PROC_CONNECTOR = 1;
export const SOURCE_ZOMBIE_TIMEOUT = 2;
export const SOURCE_NAMES = ['PIDFD', 'PROC_CONNECTOR', 'ZOMBIE_TIMEOUT'] as const;

export const DISCOVERY_FORK = 0;
export const DISCOVERY_EXEC = 1;
export const DISCOVERY_SCAN = 2;
export const DISCOVERY_EXIT_ONLY = 3;
export const DISCOVERY_NAMES = ['FORK', 'EXEC', 'SCAN', 'EXIT_ONLY'] as const;

export const FLAG_WAIT_STATUS = 1 << 0;
export const FLAG_CREDS = 1 << 1;
export const FLAG_ARGV_TRUNCATED = 1 << 2;
export const FLAG_UNREAPED = 1 << 3;
export const FLAG_OOM_KILL = 1 << 4;
export const FLAG_PIDFS_INO = 1 << 5;
export const FLAG_START_TIME = 1 << 6;
export const FLAG_COREDUMP_MASK = 1 << 7;
export const FLAG_CGROUP_ID = 1 << 8;
export const FLAG_PPID = 1 << 9;
export const FLAG_COREDUMP_SEQ = 1 << 10;

/*
 * Raw exit record, little-endian:
 *   0  u32  total length of the record in bytes (header + strings)
 *   4  u16  record kind (RECORD_EXIT)
 *   6  u8   source (SOURCE_*)
 *   7  u8   discovery (DISCOVERY_*)
 *   8  u32  flags (FLAG_*)
 *  12  u32  pid
 *  16  i32  ppid
 *  20  i32  wait status (raw, as waitpid reports it)
 *  24  u32  coredump_mask
 *  28  u32  uid/gid set: ruid rgid euid egid suid sgid fsuid fsgid (8 x u32, to 60)
 *  60  u32  (padding)
 *  64  f64  pidfs inode
 *  72  f64  cgroup id
 *  80  f64  start time, wall-clock microseconds
 *  88  f64  exit time, wall-clock microseconds
 *  96  f64  coredump event seq
 * 104  u16  comm length
 * 106  u16  exe length
 * 108  u32  argv length (arguments separated by NUL)
 * 112  ...  comm, exe, argv bytes (UTF-8 as the kernel gave them)
 * The record is padded to a multiple of 8 bytes so the f64 fields stay aligned.
 * u64 ids travel as f64: pidfs inodes and cgroup ids stay far below 2^53 in practice.
 */
export const RAW_EXIT_HEADER = 112;

export interface RawExit {
  source: number;
  discovery: number;
  flags: number;
  pid: number;
  ppid: number;
  waitStatus: number;
  coredumpMask: number;
  /** ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid */
  creds: [number, number, number, number, number, number, number, number];
  pidfsIno: number;
  cgroupId: number;
  startTimeUs: number;
  exitTimeUs: number;
  coredumpSeq: number;
  comm: string;
  exe: string;
  /** The argument vector joined with NUL, as /proc/PID/cmdline holds it (without the final NUL). */
  argv: Uint8Array;
}

/**
 * Appends raw exit records to a growing buffer. One writer per batch; `finish()` hands over an
 * ArrayBuffer sized to the records, ready to be transferred.
 */
export class RawExitWriter {
  #buf: Buffer;
  #view: DataView;
  #at = 0;
  count = 0;

  constructor(initialBytes = 64 * 1024) {
    this.#buf = Buffer.allocUnsafeSlow(initialBytes);
    this.#view = new DataView(this.#buf.buffer, this.#buf.byteOffset, this.#buf.byteLength);
  }

  get byteLength(): number {
    return this.#at;
  }

  #reserve(bytes: number): void {
    if (this.#at + bytes <= this.#buf.length) return;
    const bigger = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#at + bytes));
    this.#buf.copy(bigger, 0, 0, this.#at);
    this.#buf = bigger;
    this.#view = new DataView(bigger.buffer, bigger.byteOffset, bigger.byteLength);
  }

  /** `comm` and `exe` are written as UTF-8; `argv` is taken as bytes. */
  write(r: RawExit): void {
    const commLen = Buffer.byteLength(r.comm);
    const exeLen = Buffer.byteLength(r.exe);
    const unpadded = RAW_EXIT_HEADER + commLen + exeLen + r.argv.length;
    const total = (unpadded + 7) & ~7;
    this.#reserve(total);
    const v = this.#view;
    const o = this.#at;
    v.setUint32(o, total, true);
    v.setUint16(o + 4, RECORD_EXIT, true);
    v.setUint8(o + 6, r.source);
    v.setUint8(o + 7, r.discovery);
    v.setUint32(o + 8, r.flags, true);
    v.setUint32(o + 12, r.pid, true);
    v.setInt32(o + 16, r.ppid, true);
    v.setInt32(o + 20, r.waitStatus, true);
    v.setUint32(o + 24, r.coredumpMask, true);
    for (let i = 0; i < 8; i++) v.setUint32(o + 28 + i * 4, r.creds[i] ?? 0, true);
    v.setUint32(o + 60, 0, true);
    v.setFloat64(o + 64, r.pidfsIno, true);
    v.setFloat64(o + 72, r.cgroupId, true);
    v.setFloat64(o + 80, r.startTimeUs, true);
    v.setFloat64(o + 88, r.exitTimeUs, true);
    v.setFloat64(o + 96, r.coredumpSeq, true);
    v.setUint16(o + 104, commLen, true);
    v.setUint16(o + 106, exeLen, true);
    v.setUint32(o + 108, r.argv.length, true);
    let s = o + RAW_EXIT_HEADER;
    s += this.#buf.write(r.comm, s, 'utf8');
    s += this.#buf.write(r.exe, s, 'utf8');
    this.#buf.set(r.argv, s);
    this.#at += total;
    this.count++;
  }

  /** The records written so far, in an ArrayBuffer of their exact size; the writer resets. */
  finish(): ArrayBuffer {
    const out = new ArrayBuffer(this.#at);
    new Uint8Array(out).set(this.#buf.subarray(0, this.#at));
    this.#at = 0;
    this.count = 0;
    return out;
  }
}

const decoder = new TextDecoder();

/** Reads the record at `offset`; returns it with the offset of the next one. */
export function readRawExit(buf: ArrayBuffer, offset: number): { record: RawExit; next: number } {
  const v = new DataView(buf, offset);
  const total = v.getUint32(0, true);
  const kind = v.getUint16(4, true);
  if (kind !== RECORD_EXIT) throw new RangeError(`raw record at ${offset}: unknown kind ${kind}`);
  if (total < RAW_EXIT_HEADER || offset + total > buf.byteLength) {
    throw new RangeError(`raw record at ${offset}: length ${total} runs past ${buf.byteLength}`);
  }
  const commLen = v.getUint16(104, true);
  const exeLen = v.getUint16(106, true);
  const argvLen = v.getUint32(108, true);
  const s = offset + RAW_EXIT_HEADER;
  const creds: RawExit['creds'] = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let i = 0; i < 8; i++) creds[i] = v.getUint32(28 + i * 4, true);
  return {
    record: {
      source: v.getUint8(6),
      discovery: v.getUint8(7),
      flags: v.getUint32(8, true),
      pid: v.getUint32(12, true),
      ppid: v.getInt32(16, true),
      waitStatus: v.getInt32(20, true),
      coredumpMask: v.getUint32(24, true),
      creds,
      pidfsIno: v.getFloat64(64, true),
      cgroupId: v.getFloat64(72, true),
      startTimeUs: v.getFloat64(80, true),
      exitTimeUs: v.getFloat64(88, true),
      coredumpSeq: v.getFloat64(96, true),
      comm: decoder.decode(new Uint8Array(buf, s, commLen)),
      exe: decoder.decode(new Uint8Array(buf, s + commLen, exeLen)),
      argv: new Uint8Array(buf, s + commLen + exeLen, argvLen),
    },
    next: offset + total,
  };
}

/** Context every worker needs, fixed for the agent's life: passed as Piscina `workerData`. */
export interface WorkerContext {
  host: string;
  bootId: string;
  /** cgroup2 mount point, e.g. /sys/fs/cgroup or /sys/fs/cgroup/unified. Null without cgroup2. */
  cgroupRoot: string | null;
  /** Path of the passwd database for user names (tests point it at a fixture). */
  passwdPath: string;
}

/** Task: decode and enrich a batch of raw exit records, and encode each as a ProcessExit body. */
export interface EncodeExitsTask {
  task: 'encode-exits';
  batch: ArrayBuffer;
  count: number;
}

/**
 * Result: Avro bodies (records without their `agent` stamp) back to back in `bodies`, with
 * their byte lengths in `lengths`, in the order of the batch. Both buffers are transferred.
 * A dropped record has no body and no length: it appears only in `dropped`.
 */
export interface EncodedBodies {
  bodies: ArrayBuffer;
  lengths: Uint32Array;
  /** Records the worker could not decode: each becomes a RECORD_DROPPED loss AgentEvent. */
  dropped: { offset: number; reason: string }[];
}

/**
 * Task: say which bytes of a core the analysis needs (workers/analyser planCore). Result:
 * CorePlan. Sent again with a longer `head` while the plan answers `needHead`.
 */
export interface PlanCoreTask {
  task: 'plan-core';
  head: Uint8Array;
}

/**
 * Task: analyse a core from its head and the planned ranges kept from the stream
 * (workers/analyser analyseCore). Result: CoreAnalysis, never an error.
 */
export interface AnalyseCoreTask {
  task: 'analyse-core';
  head: Uint8Array;
  ranges: { offset: number; bytes: Uint8Array }[];
  /** Bytes the stream delivered. */
  coreSize: number;
  /** True when the core was cut (size cap or an early end). */
  truncated: boolean;
}

/**
 * Task: load what the worker needs (here, build the exit encoder), then wait until every
 * worker of the pool holds a warm-up task at once (the count in `arrived` reaches `workers`) or
 * `timeoutMs` passes. Sent once per worker at start (workers/warm-up.ts): a worker blocked here
 * takes no second warm-up, so they land one per thread. Result: whether every worker arrived
 * in time.
 */
export interface WarmUpTask {
  task: 'warm-up';
  /** An Int32Array's buffer of one element, shared by the pool's warm-up tasks. */
  arrived: SharedArrayBuffer;
  workers: number;
  timeoutMs: number;
}

export type WorkerTask = EncodeExitsTask | PlanCoreTask | AnalyseCoreTask | WarmUpTask;

/** What a task resolves to, by task name. */
export interface WorkerResults {
  'encode-exits': EncodedBodies;
  'plan-core': CorePlan;
  'analyse-core': CoreAnalysis;
  'warm-up': boolean;
}
