/**
 * Conversions between the kernel's clocks and the wall clock. Proc-connector notices carry
 * CLOCK_MONOTONIC nanoseconds (ktime_get_ns); /proc/PID/stat starttime is CLOCK_BOOTTIME in
 * clock ticks. Both offsets are taken once at start; they drift only with clock steps and
 * suspends, which a per-host agent on servers can ignore.
 */
import { readFileSync } from 'node:fs';

import { CLOCK_TICKS_PER_SECOND } from '../common/host.js';

const NS_PER_TICK = 1e9 / CLOCK_TICKS_PER_SECOND;

/**
 * performance.now() reads libuv's hrtime, CLOCK_MONOTONIC, in milliseconds from this thread's
 * start; this is where it starts, in nanoseconds.
 */
const MONO_ORIGIN_NS = Number(process.hrtime.bigint()) - performance.now() * 1e6;

/**
 * CLOCK_MONOTONIC now, in nanoseconds. performance.now() allocates nothing, unlike
 * process.hrtime.bigint(), and the watcher reads the clock on every wake.
 */
export function monoNowNs(): number {
  return MONO_ORIGIN_NS + performance.now() * 1e6;
}

export class Clocks {
  /** wall µs = monotonic ns / 1000 + this. */
  readonly #monoToWallUs: number;
  /** monotonic ns = boottime ns - this (the time spent suspended; /proc/uptime has 10 ms grain). */
  readonly #bootMinusMonoNs: number;

  constructor() {
    const mono = monoNowNs();
    this.#monoToWallUs = Date.now() * 1000 - mono / 1000;
    const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    this.#bootMinusMonoNs = Math.max(0, uptimeSeconds * 1e9 - mono);
  }

  monoToWallUs(monoNs: number): number {
    return Math.round(monoNs / 1000 + this.#monoToWallUs);
  }

  nowWallUs(): number {
    return this.monoToWallUs(monoNowNs());
  }

  /** A /proc/PID/stat starttime (ticks after boot) as CLOCK_MONOTONIC nanoseconds. */
  ticksToMonoNs(ticks: number): number {
    return ticks * NS_PER_TICK - this.#bootMinusMonoNs;
  }
}
