/**
 * cgroup id → path, through an index of the cgroup2 hierarchy. The id the kernel reports
 * (PIDFD_INFO_CGROUPID, Linux 6.13; `cgroupid` in PIDFD_INFO_EXIT, 6.15) is the inode number
 * of the cgroup's directory on cgroup2 (kernfs node id, unique for the boot on 64-bit), so
 * one walk of the mount with lstat gives the whole map.
 *
 * The index is kept current by a rescan when an id is missing, at most once per
 * `minRescanIntervalMs`: a burst of exits from a cgroup that is already gone cannot turn into
 * a burst of walks. A cgroup removed before any walk saw it resolves to a null path.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { type CgroupFacts, parseCgroupPath } from './cgroup-path.js';

/** Default bound on walks of the hierarchy prompted by unknown ids. */
export const CGROUP_RESCAN_MIN_INTERVAL_MS = 250;
/** Cap on directories in the index; a walk stops there and says so in `truncated`. */
export const CGROUP_INDEX_MAX_ENTRIES = 100_000;

export interface CgroupEntry extends CgroupFacts {
  path: string;
}

/** A directory seen by a walk; what its path says is parsed on first lookup, then kept. */
interface Seen {
  path: string;
  parsed: CgroupEntry | null;
}

export interface CgroupIndexOptions {
  minRescanIntervalMs?: number;
  /** Monotonic milliseconds; tests drive it to avoid depending on the wall clock. */
  now?: () => number;
}

export class CgroupIndex {
  readonly root: string;
  #entries = new Map<number, Seen>();
  #lastScan = Number.NEGATIVE_INFINITY;
  readonly #minInterval: number;
  readonly #now: () => number;
  /** Walks done so far, including the first. */
  scans = 0;
  /** True when the last walk hit CGROUP_INDEX_MAX_ENTRIES. */
  truncated = false;

  constructor(root: string, options: CgroupIndexOptions = {}) {
    this.root = root;
    this.#minInterval = options.minRescanIntervalMs ?? CGROUP_RESCAN_MIN_INTERVAL_MS;
    this.#now = options.now ?? (() => performance.now());
  }

  /** The cgroup with this id, or null when it is not (or no longer) in the hierarchy. */
  lookup(id: number): Readonly<CgroupEntry> | null {
    let entry = this.#entries.get(id);
    if (entry === undefined && this.#now() - this.#lastScan >= this.#minInterval) {
      this.rescan();
      entry = this.#entries.get(id);
    }
    if (entry === undefined) return null;
    entry.parsed ??= { path: entry.path, ...parseCgroupPath(entry.path) };
    return entry.parsed;
  }

  /** Walks the whole hierarchy again; entries of removed cgroups go, parsed facts of kept ones stay. */
  rescan(): void {
    const next = new Map<number, Seen>();
    this.truncated = false;
    const pending: string[] = ['/'];
    while (pending.length > 0) {
      const rel = pending.pop() as string;
      const ino = inodeOf(join(this.root, rel));
      if (ino === null) continue;
      if (next.size >= CGROUP_INDEX_MAX_ENTRIES) {
        this.truncated = true;
        break;
      }
      const kept = this.#entries.get(ino);
      next.set(ino, kept?.path === rel ? kept : { path: rel, parsed: null });
      for (const child of subdirectories(join(this.root, rel))) {
        pending.push(rel === '/' ? `/${child}` : `${rel}/${child}`);
      }
    }
    this.#entries = next;
    this.#lastScan = this.#now();
    this.scans++;
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** A cgroup can vanish mid-walk: that is the hierarchy changing, not an error. */
function inodeOf(dir: string): number | null {
  try {
    return lstatSync(dir).ino;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

function subdirectories(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** `\040` and friends: mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) =>
    String.fromCharCode(parseInt(octal, 8)),
  );
}

/**
 * The cgroup2 mount point in a mountinfo text (`/proc/self/mountinfo`): /sys/fs/cgroup on a
 * pure-v2 host, /sys/fs/cgroup/unified on a hybrid one; null when cgroup2 is not mounted.
 */
export function cgroup2MountPoint(mountinfo: string): string | null {
  for (const line of mountinfo.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash === -1) continue;
    const fsType = line.slice(dash + 3).split(' ')[0];
    const fields = line.slice(0, dash).split(' ');
    if (fsType === 'cgroup2' && fields[3] === '/' && fields[4] !== undefined) {
      return unescapeMountField(fields[4]);
    }
  }
  return null;
}

/** The cgroup2 mount of this process's mount namespace. */
export function findCgroup2Mount(mountinfoPath = '/proc/self/mountinfo'): string | null {
  return cgroup2MountPoint(readFileSync(mountinfoPath, 'utf8'));
}
