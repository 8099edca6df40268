/**
 * Decides whether a SIGKILLed process was an OOM kill: its memory cgroup's `oom_kill` counter
 * grew since it was last sampled. Each growth is a credit, spent by one SIGKILLed exit, so two
 * OOM kills in one cgroup classify both and a later plain `kill -9` there does not.
 *
 * cgroup v2 keeps the counter in `memory.events` (Linux 4.13), cgroup v1 in
 * `memory.oom_control` (Linux 4.13). On a hybrid host the memory controller may be on v1
 * while cgroup2 holds no controllers; both are supported, v2 first.
 */
import { existsSync, readFileSync } from 'node:fs';

import { cgroup2MountPoint } from '../workers/cgroup-index.js';

/** Memory cgroups tracked at once; processes in cgroups beyond it are never marked OOM. */
export const MAX_TRACKED_MEMCGS = 8192;

export interface MemcgCounter {
  readonly file: string;
  last: number;
  credits: number;
  refs: number;
}

interface CgroupMounts {
  v2: string | null;
  v1Memory: string | null;
}

/** cgroup mount points from /proc/self/mountinfo (field 5 mount point, then fs type, options). */
export function cgroupMounts(
  mountinfo = readFileSync('/proc/self/mountinfo', 'utf8'),
): CgroupMounts {
  const found: CgroupMounts = { v2: cgroup2MountPoint(mountinfo), v1Memory: null };
  for (const line of mountinfo.split('\n')) {
    const [left, right] = line.split(' - ');
    if (left === undefined || right === undefined) continue;
    const mountPoint = left.split(' ')[4];
    const [fsType, , superOptions] = right.split(' ');
    if (mountPoint === undefined) continue;
    if (fsType === 'cgroup' && superOptions?.split(',').includes('memory')) {
      found.v1Memory ??= mountPoint;
    }
  }
  return found;
}

function readOomKills(file: string): number {
  const text = readFileSync(file, 'utf8');
  const at = text.indexOf('oom_kill ');
  return at < 0 ? 0 : Number.parseInt(text.slice(at + 9), 10);
}

export class OomTracker {
  readonly #mounts: CgroupMounts;
  readonly #byFile = new Map<string, MemcgCounter>();
  /** cgroup path → counter file or null (no memory accounting there), cached. */
  readonly #fileOfPath = new Map<string, string | null>();
  overflowed = 0;

  constructor(mounts: CgroupMounts = cgroupMounts()) {
    this.#mounts = mounts;
  }

  /** The memory counter file for a /proc/PID/cgroup text, or null. */
  counterFile(cgroupText: string): string | null {
    let v2Path: string | null = null;
    let v1Path: string | null = null;
    for (const line of cgroupText.split('\n')) {
      const first = line.indexOf(':');
      const second = line.indexOf(':', first + 1);
      if (first < 0 || second < 0) continue;
      const controllers = line.slice(first + 1, second);
      if (line.startsWith('0::')) v2Path = line.slice(second + 1);
      else if (controllers.split(',').includes('memory')) v1Path = line.slice(second + 1);
    }
    const key = `${v2Path ?? ''}\n${v1Path ?? ''}`;
    let file = this.#fileOfPath.get(key);
    if (file === undefined) {
      file = this.#resolve(v2Path, v1Path);
      if (this.#fileOfPath.size >= MAX_TRACKED_MEMCGS) this.#fileOfPath.clear();
      this.#fileOfPath.set(key, file);
    }
    return file;
  }

  #resolve(v2Path: string | null, v1Path: string | null): string | null {
    if (this.#mounts.v2 !== null && v2Path !== null) {
      const events = `${this.#mounts.v2}${v2Path === '/' ? '' : v2Path}/memory.events`;
      if (existsSync(events)) return events;
    }
    if (this.#mounts.v1Memory !== null && v1Path !== null) {
      const control = `${this.#mounts.v1Memory}${v1Path === '/' ? '' : v1Path}/memory.oom_control`;
      if (existsSync(control)) return control;
    }
    return null;
  }

  /** A process was seen in the cgroup of `file`: the baseline is sampled the first time. */
  attach(file: string): MemcgCounter | null {
    let counter = this.#byFile.get(file);
    if (counter === undefined) {
      if (this.#byFile.size >= MAX_TRACKED_MEMCGS) {
        this.overflowed++;
        return null;
      }
      let last: number;
      try {
        last = readOomKills(file);
      } catch {
        // The cgroup was removed between resolving and sampling: nothing to track.
        return null;
      }
      counter = { file, last, credits: 0, refs: 0 };
      this.#byFile.set(file, counter);
    }
    counter.refs++;
    return counter;
  }

  /** A forked child shares its parent's cgroup. */
  retain(counter: MemcgCounter): MemcgCounter {
    counter.refs++;
    return counter;
  }

  /** The process left the table: the counter is forgotten with its last process. */
  release(counter: MemcgCounter): void {
    if (--counter.refs <= 0) this.#byFile.delete(counter.file);
  }

  /** For a SIGKILLed process: true when an OOM kill in its cgroup is not yet accounted for. */
  takeOomKill(counter: MemcgCounter): boolean {
    try {
      const now = readOomKills(counter.file);
      if (now > counter.last) counter.credits += now - counter.last;
      counter.last = now;
    } catch {
      // The cgroup is already gone (removed right after the kill): spend what was banked.
    }
    if (counter.credits <= 0) return false;
    counter.credits--;
    return true;
  }
}
