/**
 * cgroup id → path. The id the kernel reports (PIDFD_INFO_CGROUPID, Linux 6.13; `cgroupid` in
 * PIDFD_INFO_EXIT, 6.15) is the kernfs node id of the cgroup's directory on cgroup2, which is
 * also its inode number and a valid file handle.
 *
 * An unknown id is resolved in one step through that file handle (native/cgroup-handle.ts),
 * and remembered. Where handles are refused (no CAP_DAC_READ_SEARCH), the index falls back to
 * walking the whole hierarchy with lstat, again when an id is missing, at most once per
 * `minRescanIntervalMs`: a burst of exits from a cgroup that is already gone cannot turn into
 * a burst of walks. Either way, a cgroup removed before it was first looked up resolves to
 * null.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { isErrno } from '../common/errors.js';
import { CgroupHandles } from '../native/cgroup-handle.js';
import { type CgroupFacts, parseCgroupPath } from './cgroup-path.js';

/** Default bound on walks of the hierarchy prompted by unknown ids. */
export const CGROUP_RESCAN_MIN_INTERVAL_MS = 250;
/**
 * Cap on cgroups in the index. A walk stops there and says so in `truncated`; ids resolved
 * through handles start a fresh index when it is full (each is one syscall away again).
 */
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
  /** Resolve unknown ids through file handles (the default); false: always walk. */
  handles?: boolean;
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
  /** Ids resolved through file handles. */
  handleLookups = 0;
  /** Why file handles are not used, when they are not: the error that turned them off. */
  handlesOff: string | null = null;
  #handles: CgroupHandles | null = null;

  constructor(root: string, options: CgroupIndexOptions = {}) {
    this.root = root;
    this.#minInterval = options.minRescanIntervalMs ?? CGROUP_RESCAN_MIN_INTERVAL_MS;
    this.#now = options.now ?? (() => performance.now());
    if (options.handles === false) {
      this.handlesOff = 'turned off by the caller';
    } else {
      this.#handles = this.#tryHandles(root);
    }
  }

  #tryHandles(root: string): CgroupHandles | null {
    try {
      return new CgroupHandles(root);
    } catch (err) {
      this.handlesOff = err instanceof Error ? err.message : String(err);
      return null;
    }
  }

  /** The cgroup with this id, or null when it is not (or no longer) in the hierarchy. */
  lookup(id: number): Readonly<CgroupEntry> | null {
    const entry = this.#entries.get(id) ?? this.#resolve(id);
    if (entry === undefined) return null;
    entry.parsed ??= { path: entry.path, ...parseCgroupPath(entry.path) };
    return entry.parsed;
  }

  #resolve(id: number): Seen | undefined {
    if (this.#handles !== null) {
      const path = this.#byHandle(this.#handles, id);
      if (path !== undefined) return path === null ? undefined : this.#remember(id, path);
    }
    if (this.#now() - this.#lastScan < this.#minInterval) return undefined;
    this.rescan();
    return this.#entries.get(id);
  }

  /** The path, null for a removed cgroup, undefined when handles failed and were turned off. */
  #byHandle(handles: CgroupHandles, id: number): string | null | undefined {
    try {
      this.handleLookups++;
      return handles.pathOf(id);
    } catch (err) {
      // EPERM (no CAP_DAC_READ_SEARCH) or a kernel without kernfs handles: the same for every
      // id, so handles are turned off for good and the walk takes over.
      if (!isErrno(err, 'EPERM') && !isErrno(err, 'EOPNOTSUPP') && !isErrno(err, 'EINVAL')) {
        throw err;
      }
      this.handlesOff = (err as Error).message;
      this.#handles = null;
      handles.close();
      return undefined;
    }
  }

  #remember(id: number, path: string): Seen {
    if (this.#entries.size >= CGROUP_INDEX_MAX_ENTRIES) this.#entries = new Map();
    const seen = { path, parsed: null };
    this.#entries.set(id, seen);
    return seen;
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
