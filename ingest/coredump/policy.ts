/**
 * Whether a crash's core is taken: the size cap, allow and deny lists of executables and
 * cgroups, and a rate limit per executable so a crash loop cannot flood the host. Decided
 * before the ack, while the kernel waits, from what was captured under /proc.
 */
import { ConfigError } from '../../common/errors.js';

export type Verdict = 'ACCEPTED' | 'REJECTED_SIZE' | 'REJECTED_POLICY' | 'RATE_LIMITED' | 'FAILED';

export interface CorePolicyOptions {
  /** Cores estimated larger than this are refused; a stream that runs past it is cut. */
  maxCoreBytes: number;
  /** Executable paths taken; empty means every one. `*` at the end matches any rest. */
  allowExe: readonly string[];
  denyExe: readonly string[];
  /** cgroup paths (below the cgroup2 mount) taken or refused, with the same `*` rule. */
  allowCgroup: readonly string[];
  denyCgroup: readonly string[];
  /** Cores per executable per `rateWindowMs`; 0 turns the limit off. */
  ratePerExe: number;
  rateWindowMs: number;
}

export const DEFAULT_CORE_POLICY: Readonly<CorePolicyOptions> = {
  maxCoreBytes: 2 * 1024 ** 3,
  allowExe: [],
  denyExe: [],
  allowCgroup: [],
  denyCgroup: [],
  ratePerExe: 10,
  rateWindowMs: 60_000,
};

/**
 * Executables whose rate windows are remembered. Beyond it the oldest window is forgotten:
 * a flood of distinct executables can only make the limit more lenient, never unbounded memory.
 */
export const RATE_TABLE_MAX_ENTRIES = 4096;

export interface CrashFacts {
  exe: string | null;
  cgroupPath: string | null;
  /** What the core will weigh, from the process's mappings; null when unknown. */
  estimatedBytes: number | null;
}

export interface Decision {
  verdict: Verdict;
  /** Why, in a few words, for logs and the CORE_REJECTED loss event. */
  reason: string;
}

function matches(patterns: readonly string[], value: string): boolean {
  for (const p of patterns) {
    if (p.endsWith('*') ? value.startsWith(p.slice(0, -1)) : value === p) return true;
  }
  return false;
}

/** `N/MIN`, `N/S` or `N/H`: cores per executable per minute, second or hour. */
export function parseCoreRate(text: string): { ratePerExe: number; rateWindowMs: number } {
  const m = /^(\d+)\/(s|sec|min|h|hour)$/i.exec(text.trim());
  if (m === null) {
    throw new ConfigError(`--core-rate ${JSON.stringify(text)}: expected N/MIN, N/S or N/H`);
  }
  const unit = (m[2] ?? 'min').toLowerCase();
  const windowMs = unit.startsWith('s') ? 1000 : unit.startsWith('h') ? 3_600_000 : 60_000;
  return { ratePerExe: Number(m[1]), rateWindowMs: windowMs };
}

export class CorePolicy {
  readonly options: Readonly<CorePolicyOptions>;
  /** Per executable: start times of the cores taken in the current window, oldest first. */
  readonly #taken = new Map<string, number[]>();

  constructor(options: Readonly<CorePolicyOptions>) {
    this.options = options;
  }

  /** Decides one crash at `nowMs`; an ACCEPTED verdict counts against the executable's rate. */
  decide(facts: CrashFacts, nowMs: number): Decision {
    const o = this.options;
    const exe = facts.exe ?? '';
    const cgroup = facts.cgroupPath ?? '';

    if (o.denyExe.length > 0 && matches(o.denyExe, exe)) {
      return { verdict: 'REJECTED_POLICY', reason: 'executable denied' };
    }
    if (o.allowExe.length > 0 && !matches(o.allowExe, exe)) {
      return { verdict: 'REJECTED_POLICY', reason: 'executable not allowed' };
    }
    if (o.denyCgroup.length > 0 && matches(o.denyCgroup, cgroup)) {
      return { verdict: 'REJECTED_POLICY', reason: 'cgroup denied' };
    }
    if (o.allowCgroup.length > 0 && !matches(o.allowCgroup, cgroup)) {
      return { verdict: 'REJECTED_POLICY', reason: 'cgroup not allowed' };
    }
    if (facts.estimatedBytes !== null && facts.estimatedBytes > o.maxCoreBytes) {
      return { verdict: 'REJECTED_SIZE', reason: `estimated ${facts.estimatedBytes} bytes` };
    }
    if (o.ratePerExe > 0 && !this.#admit(exe, nowMs)) {
      return { verdict: 'RATE_LIMITED', reason: `over ${o.ratePerExe} per ${o.rateWindowMs} ms` };
    }
    return { verdict: 'ACCEPTED', reason: 'accepted' };
  }

  #admit(exe: string, nowMs: number): boolean {
    const since = nowMs - this.options.rateWindowMs;
    let times = this.#taken.get(exe);
    if (times === undefined) {
      if (this.#taken.size >= RATE_TABLE_MAX_ENTRIES) {
        const oldest = this.#taken.keys().next();
        if (oldest.done !== true) this.#taken.delete(oldest.value);
      }
      times = [];
      this.#taken.set(exe, times);
    }
    while (times.length > 0 && (times[0] ?? 0) <= since) times.shift();
    if (times.length >= this.options.ratePerExe) return false;
    times.push(nowMs);
    return true;
  }
}
