/**
 * The table of watched processes: what was learnt about each while it lived, found by pid (for
 * proc-connector notices) and by pidfd (for epoll events). A process leaves the pid index when
 * its exit notice arrives, so a later process reusing the pid starts clean, and leaves the
 * table when its exit has been written.
 */
import type { MemcgCounter } from './oom.js';

export type Creds = [number, number, number, number, number, number, number, number];

export const NO_FD = -1;

export class ProcEntry {
  pid: number;
  /** -1 when pidfd_open lost the race (the process was already reaped) or was never tried. */
  pidfd = NO_FD;
  pidfsIno = 0;
  ppid = -1;
  creds: Creds | null = null;
  /** DISCOVERY_* of workers/protocol.ts. */
  discovery: number;
  /** Start, CLOCK_MONOTONIC ns (from the fork notice, or /proc starttime for a scan). */
  startMonoNs: number;
  startWallUs: number;
  comm = '';
  exe = '';
  argv: Uint8Array = EMPTY;
  argvTruncated = false;
  memcg: MemcgCounter | null = null;
  /** The connector's exit notice: raw wait status, or null until it arrives. */
  exitStatus: number | null = null;
  exitMonoNs = 0;
  /** The zombie check was armed (EPOLLIN requested) after the bound elapsed. */
  zombieArmed = false;
  /** seq of a Coredump event written for this process, or -1. */
  coredumpSeq = -1;
  /** Its exit record was written (set when that happens before the exit notice arrives). */
  written = false;

  constructor(pid: number, discovery: number, startMonoNs: number, startWallUs: number) {
    this.pid = pid;
    this.discovery = discovery;
    this.startMonoNs = startMonoNs;
    this.startWallUs = startWallUs;
  }

  /** Copies what a forked child shares with its parent at the moment of fork. */
  inheritFrom(parent: ProcEntry): void {
    this.ppid = parent.pid;
    this.creds = parent.creds;
    this.comm = parent.comm;
    this.exe = parent.exe;
    this.argv = parent.argv;
    this.argvTruncated = parent.argvTruncated;
  }
}

const EMPTY = new Uint8Array(0);

export class ProcessTable {
  readonly #byPid = new Map<number, ProcEntry>();
  /** Indexed by pidfd number: fds are small dense integers, so an array beats a map here. */
  readonly #byFd: (ProcEntry | undefined)[] = [];
  #watched = 0;
  /** Exited entries still waiting for their reap or zombie bound, in exit order. */
  readonly exited = new Set<ProcEntry>();

  get watched(): number {
    return this.#watched;
  }

  byPid(pid: number): ProcEntry | undefined {
    return this.#byPid.get(pid);
  }

  byFd(fd: number): ProcEntry | undefined {
    return this.#byFd[fd];
  }

  /** Adds an entry; an older entry with the same pid loses its pid index but keeps its fd. */
  add(entry: ProcEntry): void {
    this.#byPid.set(entry.pid, entry);
    if (entry.pidfd !== NO_FD) {
      this.#byFd[entry.pidfd] = entry;
      this.#watched++;
    }
  }

  /** The exit notice arrived: the pid is free for reuse from here on. */
  markExited(entry: ProcEntry): void {
    if (this.#byPid.get(entry.pid) === entry) this.#byPid.delete(entry.pid);
    if (entry.pidfd !== NO_FD) this.exited.add(entry);
  }

  /** The exit was written: drop every index. The caller closes the pidfd. */
  remove(entry: ProcEntry): void {
    if (this.#byPid.get(entry.pid) === entry) this.#byPid.delete(entry.pid);
    this.exited.delete(entry);
    if (entry.pidfd !== NO_FD && this.#byFd[entry.pidfd] === entry) {
      this.#byFd[entry.pidfd] = undefined;
      this.#watched--;
    }
  }

  entries(): IterableIterator<ProcEntry> {
    return this.#byPid.values();
  }

  /** Every entry holding a pidfd, for closing at stop. */
  *watchedEntries(): Generator<ProcEntry> {
    for (const entry of this.#byFd) if (entry !== undefined) yield entry;
  }
}
