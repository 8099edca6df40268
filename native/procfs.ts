/**
 * Reads of /proc/PID files into buffers allocated once, so capturing a process's metadata
 * costs a few system calls and no garbage beyond the strings it returns. Formats from
 * Documentation/filesystems/proc.rst. Nothing here logs or throws for a process that is gone
 * or may not be inspected: each read returns null then, as it does all the time under churn.
 */
import { readFileQuiet, readlinkQuiet } from './quiet.js';

/**
 * Bytes of argv kept per process. Command lines beyond it are cut at the cap and the record is
 * flagged FLAG_ARGV_TRUNCATED; 4 KiB holds all but a handful of real command lines.
 */
export const ARGV_MAX_BYTES = 4096;
/** PATH_MAX, include/uapi/linux/limits.h. */
const EXE_MAX_BYTES = 4096;
/** /proc/PID/stat is one line of 52 fields; 1 KiB holds it with a 16-byte comm. */
const STAT_MAX_BYTES = 1024;
/** /proc/PID/cgroup on a v1/v2 hybrid has one line per hierarchy. */
const CGROUP_FILE_MAX_BYTES = 8192;

export interface ProcStat {
  comm: string;
  /** One-letter state: R, S, D, Z, … */
  state: string;
  ppid: number;
  /** Field 22: start time after boot in clock ticks (USER_HZ). */
  startTicks: number;
}

export interface ProcArgv {
  /** The argument vector joined by NUL, without the final NUL, at most ARGV_MAX_BYTES. */
  bytes: Uint8Array;
  truncated: boolean;
}

export class ProcReader {
  readonly #stat = Buffer.alloc(STAT_MAX_BYTES);
  readonly #argv = Buffer.alloc(ARGV_MAX_BYTES + 1);
  readonly #exe = Buffer.alloc(EXE_MAX_BYTES);
  readonly #cgroup = Buffer.alloc(CGROUP_FILE_MAX_BYTES);

  /** /proc/PID/stat: comm, state, ppid, starttime. */
  stat(pid: number): ProcStat | null {
    const len = readFileQuiet(`/proc/${pid}/stat`, this.#stat);
    if (len <= 0) return null;
    const text = this.#stat.toString('latin1', 0, len);
    // comm is parenthesised and may itself hold ')' or spaces: the last ')' ends it.
    const open = text.indexOf('(');
    const end = text.lastIndexOf(')');
    if (open < 0 || end < open) return null;
    const rest = text.slice(end + 2).split(' ');
    // rest[0] is field 3 (state), so field N is rest[N - 3].
    return {
      comm: this.#stat.toString('utf8', open + 1, end),
      state: rest[0] ?? '?',
      ppid: Number(rest[1]),
      startTicks: Number(rest[19]),
    };
  }

  /** /proc/PID/comm without its newline: cheaper than `stat` when only the name is needed. */
  comm(pid: number): string | null {
    let len = readFileQuiet(`/proc/${pid}/comm`, this.#stat);
    if (len < 0) return null;
    if (len > 0 && this.#stat[len - 1] === 10) len--;
    return this.#stat.toString('utf8', 0, len);
  }

  /** /proc/PID/cmdline, capped at ARGV_MAX_BYTES. Empty for kernel threads and zombies. */
  argv(pid: number): ProcArgv | null {
    let len = readFileQuiet(`/proc/${pid}/cmdline`, this.#argv);
    if (len < 0) return null;
    const truncated = len > ARGV_MAX_BYTES;
    if (truncated) len = ARGV_MAX_BYTES;
    else if (len > 0 && this.#argv[len - 1] === 0) len--;
    return { bytes: Uint8Array.prototype.slice.call(this.#argv, 0, len), truncated };
  }

  /** readlink /proc/PID/exe; null for kernel threads (which have none) and zombies. */
  exe(pid: number): string | null {
    const len = readlinkQuiet(`/proc/${pid}/exe`, this.#exe);
    return len < 0 ? null : this.#exe.toString('utf8', 0, len);
  }

  /** The text of /proc/PID/cgroup: `hierarchy-id:controllers:path` lines. */
  cgroupFile(pid: number): string | null {
    const len = readFileQuiet(`/proc/${pid}/cgroup`, this.#cgroup);
    if (len < 0) return null;
    return this.#cgroup.toString('utf8', 0, len);
  }
}

/** Numeric entries of /proc: every pid (threads live under /proc/PID/task and are not listed). */
export function isPidName(name: string): boolean {
  const c = name.charCodeAt(0);
  return c >= 48 && c <= 57;
}
