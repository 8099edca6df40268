/** Facts about this host that every event carries: read once. */
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';

let bootId: string | undefined;

/** /proc/sys/kernel/random/boot_id: a new UUID at every boot. */
export function readBootId(): string {
  bootId ??= readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
  return bootId;
}

export function hostName(): string {
  return hostname();
}

/**
 * Wall-clock microseconds at which the machine booted (CLOCK_BOOTTIME zero), so a /proc
 * starttime in clock ticks and a proc-connector timestamp in CLOCK_MONOTONIC nanoseconds can
 * be put on the wall clock. Computed once; the offset drifts only with clock steps.
 */
export function bootTimeMicros(): number {
  const uptimeSeconds = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
  return Math.round(Date.now() * 1000 - uptimeSeconds * 1e6);
}

/** USER_HZ: the unit of /proc/PID/stat times. 100 on every Linux architecture pidstream runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;
