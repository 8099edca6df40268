/**
 * Reads of /proc/PID files through the libc bindings into buffers allocated once, so capturing
 * a process's metadata costs a few system calls and no garbage beyond the strings it returns.
 * Formats from Documentation/filesystems/proc.rst. Nothing here logs; a vanished process shows
 * as a `SyscallError` (ENOENT or ESRCH) for the caller to judge.
 */
import { isErrno } from '../common/errors.js';
import { close, O_RDONLY, open, read, readlink } from './libc.js';

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

  #readFile(path: string, buf: Buffer): number {
    const fd = open(path, O_RDONLY);
    try {
      let at = 0;
      while (at < buf.length) {
        const n = read(fd, at === 0 ? buf : buf.subarray(at), buf.length - at);
        if (n === 0) break;
        at += n;
      }
      return at;
    } finally {
      close(fd);
    }
  }

  /** /proc/PID/stat: comm, state, ppid, starttime. */
  stat(pid: number): ProcStat {
    const len = this.#readFile(`/proc/${pid}/stat`, this.#stat);
    const text = this.#stat.toString('latin1', 0, len);
    // comm is parenthesised and may itself hold ')' or spaces: the last ')' ends it.
    const open = text.indexOf('(');
    const end = text.lastIndexOf(')');
    if (open < 0 || end < open) throw new RangeError(`/proc/${pid}/stat: no comm in "${text}"`);
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
  comm(pid: number): string {
    let len = this.#readFile(`/proc/${pid}/comm`, this.#stat);
    if (len > 0 && this.#stat[len - 1] === 10) len--;
    return this.#stat.toString('utf8', 0, len);
  }

  /** /proc/PID/cmdline, capped at ARGV_MAX_BYTES. Empty for kernel threads and zombies. */
  argv(pid: number): ProcArgv {
    let len = this.#readFile(`/proc/${pid}/cmdline`, this.#argv);
    const truncated = len > ARGV_MAX_BYTES;
    if (truncated) len = ARGV_MAX_BYTES;
    else if (len > 0 && this.#argv[len - 1] === 0) len--;
    return { bytes: Uint8Array.prototype.slice.call(this.#argv, 0, len), truncated };
  }

  /** readlink /proc/PID/exe; null for kernel threads, which have none. */
  exe(pid: number): string | null {
    let len: number;
    try {
      len = readlink(`/proc/${pid}/exe`, this.#exe);
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'EACCES') || isErrno(err, 'EPERM')) {
        // A kernel thread, a process that exited a moment ago (the caller sees that through
        // its other reads), or one whose mm the agent may not inspect.
        return null;
      }
      throw err;
    }
    return this.#exe.toString('utf8', 0, len);
  }

  /** The text of /proc/PID/cgroup: `hierarchy-id:controllers:path` lines. */
  cgroupFile(pid: number): string {
    const len = this.#readFile(`/proc/${pid}/cgroup`, this.#cgroup);
    return this.#cgroup.toString('utf8', 0, len);
  }
}

/** Numeric entries of /proc: every pid (threads live under /proc/PID/task and are not listed). */
export function isPidName(name: string): boolean {
  const c = name.charCodeAt(0);
  return c >= 48 && c <= 57;
}
