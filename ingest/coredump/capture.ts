/**
 * What the agent reads about a crashing process while the kernel holds it: its identity
 * (pidfd, pidfs inode, start time), its command line, executable, cgroup, credentials,
 * limits, working directory, mappings, and the root mount via statmount. Each read that fails
 * is named in `errors`; a crash is reported with what could be read.
 */
import { closeSync, openSync, readlinkSync, readSync } from 'node:fs';

import { errnoName } from '../../native/libc.js';
import { processRootMount, type RootMount } from '../../native/mount.js';
import {
  decodePidfdInfo,
  PIDFD_INFO_CGROUPID,
  PIDFD_INFO_COREDUMP,
  PIDFD_INFO_CREDS,
  PIDFD_INFO_SIZE,
  pidfdGetInfoRaw,
  pidfsInode,
  type PidfdInfo,
} from '../../native/pidfd.js';
import { ProcReader } from '../../native/procfs.js';

/** /proc/PID/maps kept for the size estimate; a process with more mappings is estimated low. */
export const MAPS_MAX_BYTES = 4 * 1024 * 1024;
/** /proc/PID/limits and /proc/PID/status are a few KiB. */
const SMALL_FILE_MAX_BYTES = 16 * 1024;
const PAGE_SIZE = 4096;

export interface CrashCapture {
  pid: number;
  pidfsIno: number | null;
  info: PidfdInfo | null;
  comm: string;
  ppid: number | null;
  startTicks: number | null;
  exe: string | null;
  argv: Uint8Array;
  argvTruncated: boolean;
  cgroupPath: string | null;
  cwd: string | null;
  /** Soft RLIMIT_CORE in bytes; null when unlimited or unread. */
  coreRlimit: number | null;
  /** What the core should weigh under the default coredump_filter, from /proc/PID/maps. */
  estimatedBytes: number | null;
  rootMount: RootMount | null;
  /** Reads that failed, as `what: reason`. */
  errors: string[];
}

function reason(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return typeof code === 'string' ? code : err.message;
  }
  return String(err);
}

/** Reads at most `cap` bytes of a /proc file as text; `truncated` when more was there. */
export function readCapped(path: string, cap: number): { text: string; truncated: boolean } {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(cap + 1);
    let at = 0;
    while (at < buf.length) {
      const n = readSync(fd, buf, at, buf.length - at, null);
      if (n === 0) break;
      at += n;
    }
    return { text: buf.toString('utf8', 0, Math.min(at, cap)), truncated: at > cap };
  } finally {
    closeSync(fd);
  }
}

/**
 * Bytes a core of this process should take with the default coredump_filter (0x33): every
 * anonymous mapping in full (an unpopulated page still travels as zeros on a socket), and the
 * first page of each file mapped from offset 0 (its ELF header, for the build-id).
 */
export function estimateCoreBytes(maps: string): number {
  let total = 0;
  for (const line of maps.split('\n')) {
    if (line === '') continue;
    const dash = line.indexOf('-');
    const space = line.indexOf(' ');
    const start = parseInt(line.slice(0, dash), 16);
    const end = parseInt(line.slice(dash + 1, space), 16);
    const fields = line.split(/\s+/, 6);
    const perms = fields[1] ?? '';
    const offset = parseInt(fields[2] ?? '0', 16);
    const path = fields[5] ?? '';
    if (path === '[vsyscall]' || path === '[vvar]' || path === '[vvar_vclock]') continue;
    if (!perms.startsWith('r')) continue;
    const anonymous = path === '' || path.startsWith('[') || path.startsWith('/dev/zero');
    if (anonymous) total += end - start;
    else if (offset === 0) total += PAGE_SIZE;
  }
  return total;
}

function parseCoreRlimit(limits: string): number | null {
  const line = limits.split('\n').find((l) => l.startsWith('Max core file size'));
  const soft = line?.slice('Max core file size'.length).trim().split(/\s+/)[0];
  return soft === undefined || soft === 'unlimited' ? null : Number(soft);
}

/** The cgroup2 line of /proc/PID/cgroup (`0::/path`). */
function cgroup2Path(text: string): string | null {
  const line = text.split('\n').find((l) => l.startsWith('0::'));
  return line === undefined ? null : line.slice(3);
}

export class CrashCapturer {
  readonly #proc = new ProcReader();
  readonly #info = Buffer.alloc(PIDFD_INFO_SIZE);

  /** Everything readable about `pid`, whose pidfd the socket handed over. */
  capture(pid: number, pidfd: number): CrashCapture {
    const errors: string[] = [];
    const attempt = <T>(what: string, read: () => T, fallback: T): T => {
      try {
        const value = read();
        // The /proc readers answer null for a file they could not read.
        if (value === null) errors.push(`${what}: unreadable`);
        return value;
      } catch (err) {
        const errno = (err as { errno?: unknown }).errno;
        errors.push(`${what}: ${typeof errno === 'number' ? errnoName(errno) : reason(err)}`);
        return fallback;
      }
    };
    const request = PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID | PIDFD_INFO_COREDUMP;
    const info = attempt(
      'PIDFD_GET_INFO',
      () => decodePidfdInfo(pidfdGetInfoRaw(pidfd, request, this.#info)),
      null,
    );
    const stat = attempt('stat', () => this.#proc.stat(pid), null);
    const argv = attempt('cmdline', () => this.#proc.argv(pid), null) ?? {
      bytes: new Uint8Array(0),
      truncated: false,
    };
    const maps = attempt('maps', () => readCapped(`/proc/${pid}/maps`, MAPS_MAX_BYTES), null);
    const limits = attempt(
      'limits',
      () => readCapped(`/proc/${pid}/limits`, SMALL_FILE_MAX_BYTES),
      null,
    );

    return {
      pid,
      pidfsIno: attempt('pidfs inode', () => pidfsInode(pidfd), null),
      info,
      comm: stat?.comm ?? attempt('comm', () => this.#proc.comm(pid), null) ?? '',
      ppid: info?.ppid ?? stat?.ppid ?? null,
      startTicks: stat?.startTicks ?? null,
      exe: attempt('exe', () => this.#proc.exe(pid), null),
      argv: argv.bytes,
      argvTruncated: argv.truncated,
      cgroupPath: attempt('cgroup', () => cgroup2Path(this.#proc.cgroupFile(pid) ?? ''), null),
      cwd: attempt('cwd', () => readlinkSync(`/proc/${pid}/cwd`), null),
      coreRlimit: limits === null ? null : parseCoreRlimit(limits.text),
      estimatedBytes: maps === null ? null : estimateCoreBytes(maps.text),
      rootMount: attempt('statmount', () => processRootMount(pid, pidfd), null),
      errors,
    };
  }
}
