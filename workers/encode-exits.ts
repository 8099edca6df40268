/**
 * The `encode-exits` task: raw exit records in, ProcessExit bodies (Avro, without the `agent`
 * stamp the main thread prefixes in sequence) out. Each record is decoded, enriched with what
 * the host knows (cgroup path and what it says, user name, signal name, classification,
 * lifetime) and encoded into one reusable buffer.
 */
import type avro from 'avsc';

import { bodyType } from '../schemas/index.js';
import { CgroupIndex } from './cgroup-index.js';
import {
  DISCOVERY_NAMES,
  type EncodedBodies,
  FLAG_ARGV_TRUNCATED,
  FLAG_CGROUP_ID,
  FLAG_COREDUMP_MASK,
  FLAG_COREDUMP_SEQ,
  FLAG_CREDS,
  FLAG_OOM_KILL,
  FLAG_PIDFS_INO,
  FLAG_PPID,
  FLAG_START_TIME,
  FLAG_UNREAPED,
  FLAG_WAIT_STATUS,
  RAW_EXIT_HEADER,
  type RawExit,
  readRawExit,
  SOURCE_NAMES,
  type WorkerContext,
} from './protocol.js';
import { signalName } from './signals.js';
import { UserNames } from './user-names.js';
import { classify, type ExitClass, splitWaitStatus } from './wait-status.js';

/** Starting size of the output buffer; it doubles as needed and is kept for the next batch. */
export const ENCODE_BUFFER_INITIAL_BYTES = 256 * 1024;

export interface Credentials {
  ruid: number;
  rgid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
}

/** A ProcessExit without its `agent` stamp, as `bodyType('ProcessExit')` encodes it. */
export interface ProcessExitBody {
  time: number;
  process: { boot_id: string; pidfs_ino: number | null; pid: number; start_time: number | null };
  ppid: number | null;
  comm: string;
  exe: string | null;
  argv: string[];
  argv_truncated: boolean;
  credentials: Credentials | null;
  user: string | null;
  wait_status: number | null;
  exit_code: number | null;
  signal: number | null;
  signal_name: string | null;
  core_dumped: boolean;
  classification: ExitClass;
  coredump_mask: number | null;
  lifetime_us: number | null;
  cgroup: {
    id: number | null;
    path: string | null;
    unit: string | null;
    slice: string | null;
    container_id: string | null;
    pod_uid: string | null;
  };
  source: (typeof SOURCE_NAMES)[number];
  discovery: (typeof DISCOVERY_NAMES)[number];
  unreaped: boolean;
  coredump_seq: number | null;
}

const utf8 = new TextDecoder();

/**
 * Avro `int` is signed 32-bit and uid_t is unsigned: ids at or above 2^31 (only the invalid
 * (uid_t)-1 in practice) are written as their two's-complement value.
 */
function credentialsOf(creds: RawExit['creds']): Credentials {
  const [ruid, rgid, euid, egid, suid, sgid, fsuid, fsgid] = creds;
  return {
    ruid: ruid | 0,
    rgid: rgid | 0,
    euid: euid | 0,
    egid: egid | 0,
    suid: suid | 0,
    sgid: sgid | 0,
    fsuid: fsuid | 0,
    fsgid: fsgid | 0,
  };
}

/** /proc/PID/cmdline layout: arguments separated by NUL. An empty vector is a kernel thread. */
function splitArgv(bytes: Uint8Array): string[] {
  return bytes.length === 0 ? [] : utf8.decode(bytes).split('\0');
}

export class ExitEncoder {
  readonly context: WorkerContext;
  readonly cgroups: CgroupIndex | null;
  readonly users: UserNames;
  readonly #type: avro.Type = bodyType('ProcessExit');
  #out: Buffer = Buffer.allocUnsafeSlow(ENCODE_BUFFER_INITIAL_BYTES);

  constructor(context: WorkerContext, cgroups?: CgroupIndex | null) {
    this.context = context;
    this.cgroups =
      cgroups !== undefined
        ? cgroups
        : context.cgroupRoot === null
          ? null
          : new CgroupIndex(context.cgroupRoot);
    this.users = new UserNames(context.passwdPath);
  }

  /** Decodes and enriches one raw record into the body the schema describes. */
  enrich(r: RawExit): ProcessExitBody {
    const f = r.flags;
    const hasStart = (f & FLAG_START_TIME) !== 0;
    const waitStatus = (f & FLAG_WAIT_STATUS) !== 0 ? r.waitStatus : null;
    const status = splitWaitStatus(waitStatus);
    const cgroupId = (f & FLAG_CGROUP_ID) !== 0 ? r.cgroupId : null;
    const cg = cgroupId === null || this.cgroups === null ? null : this.cgroups.lookup(cgroupId);
    const hasCreds = (f & FLAG_CREDS) !== 0;
    return {
      time: r.exitTimeUs,
      process: {
        boot_id: this.context.bootId,
        pidfs_ino: (f & FLAG_PIDFS_INO) !== 0 ? r.pidfsIno : null,
        pid: r.pid | 0,
        start_time: hasStart ? r.startTimeUs : null,
      },
      ppid: (f & FLAG_PPID) !== 0 ? r.ppid : null,
      comm: r.comm,
      exe: r.exe === '' ? null : r.exe,
      argv: splitArgv(r.argv),
      argv_truncated: (f & FLAG_ARGV_TRUNCATED) !== 0,
      credentials: hasCreds ? credentialsOf(r.creds) : null,
      user: hasCreds ? this.users.name(r.creds[0]) : null,
      wait_status: waitStatus,
      exit_code: status.exitCode,
      signal: status.signal,
      signal_name: status.signal === null ? null : signalName(status.signal),
      core_dumped: status.coreDumped,
      classification: classify(status, (f & FLAG_OOM_KILL) !== 0),
      coredump_mask: (f & FLAG_COREDUMP_MASK) !== 0 ? r.coredumpMask | 0 : null,
      lifetime_us: hasStart ? Math.max(0, r.exitTimeUs - r.startTimeUs) : null,
      cgroup: {
        id: cgroupId,
        path: cg?.path ?? null,
        unit: cg?.unit ?? null,
        slice: cg?.slice ?? null,
        container_id: cg?.containerId ?? null,
        pod_uid: cg?.podUid ?? null,
      },
      source: SOURCE_NAMES[r.source] ?? 'PROC_CONNECTOR',
      discovery: DISCOVERY_NAMES[r.discovery] ?? 'EXIT_ONLY',
      unreaped: (f & FLAG_UNREAPED) !== 0,
      coredump_seq: (f & FLAG_COREDUMP_SEQ) !== 0 ? r.coredumpSeq : null,
    };
  }

  /**
   * Encodes `count` records from `batch`. `lengths` holds one entry per encoded body, in batch
   * order; a record that could not be decoded or encoded has no body and is listed, with its
   * offset and reason, in `dropped`. A record whose length field is unusable ends the batch:
   * the records after it are dropped too.
   */
  encode(batch: ArrayBuffer, count: number): EncodedBodies {
    this.users.refresh();
    const lengths = new Uint32Array(count);
    const dropped: EncodedBodies['dropped'] = [];
    let encoded = 0;
    let at = 0;
    let offset = 0;
    for (let i = 0; i < count; i++) {
      if (offset + RAW_EXIT_HEADER > batch.byteLength) {
        dropped.push({ offset, reason: `record ${i} of ${count} lies past the batch end` });
        continue;
      }
      let next: number;
      try {
        const read = readRawExit(batch, offset);
        next = read.next;
        const end = this.#write(this.enrich(read.record), at);
        lengths[encoded++] = end - at;
        at = end;
      } catch (err) {
        dropped.push({ offset, reason: err instanceof Error ? err.message : String(err) });
        next = skipTo(batch, offset);
      }
      offset = next;
    }
    const bodies = new ArrayBuffer(at);
    new Uint8Array(bodies).set(this.#out.subarray(0, at));
    return { bodies, lengths: encoded === count ? lengths : lengths.slice(0, encoded), dropped };
  }

  /** Encodes at `at` in the output buffer, growing it when the body does not fit. */
  #write(body: ProcessExitBody, at: number): number {
    for (;;) {
      const end = this.#type.encode(body, this.#out, at);
      if (end >= 0) return end;
      // avsc answers a short buffer with minus the bytes missing.
      const bigger = Buffer.allocUnsafeSlow(Math.max(this.#out.length * 2, this.#out.length - end));
      this.#out.copy(bigger, 0, 0, at);
      this.#out = bigger;
    }
  }
}

/**
 * After a record that could not be read: its own length field, when it is a plausible record
 * length, still finds the next record; otherwise nothing further in the batch can be trusted.
 */
function skipTo(batch: ArrayBuffer, offset: number): number {
  const total = new DataView(batch).getUint32(offset, true);
  const plausible = total >= RAW_EXIT_HEADER && total % 8 === 0;
  return plausible && offset + total <= batch.byteLength ? offset + total : batch.byteLength;
}
