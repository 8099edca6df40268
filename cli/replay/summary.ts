/**
 * What a replay or synthesis did, measured: printed when it stops (a line for a person, or
 * one JSON object with `--summary json` for scripts and the benchmark).
 */
import type { Emitter } from './emitter.js';

export interface Summary {
  written: number;
  /** Wall-clock seconds from the first event written to the last. */
  wallSeconds: number;
  /** Event-time seconds the written events span. */
  eventSeconds: number;
  /** eventSeconds / wallSeconds: 1 at the recorded pace. Null for fewer than two events. */
  achievedSpeed: number | null;
  eventsPerSecond: number | null;
  /** How late paced events were handed to the sink, milliseconds (null when unpaced). */
  pacingErrorMs: { p50: number; p99: number; max: number; sampled: number } | null;
  interrupted: boolean;
}

export function summarise(emitter: Emitter, interrupted: boolean): Summary {
  const t = emitter.totals;
  const wallSeconds = (t.lastMs - t.firstMs) / 1000;
  const eventSeconds = t.firstUs === null || t.lastUs === null ? 0 : (t.lastUs - t.firstUs) / 1e6;
  const timed = t.written > 1 && wallSeconds > 0;
  const late = emitter.pacer.lateness();
  return {
    written: t.written,
    wallSeconds,
    eventSeconds,
    achievedSpeed: timed ? eventSeconds / wallSeconds : null,
    eventsPerSecond: timed ? (t.written - 1) / wallSeconds : null,
    pacingErrorMs:
      late === null ? null : { p50: late.p50, p99: late.p99, max: late.max, sampled: late.sampled },
    interrupted,
  };
}

/** `12000 written … in 2.00 s (6000 events/s), achieved speed 1.00×, pacing error p50 …`. */
export function formatSummary(command: string, summary: Summary, counts: string): string {
  const parts = [`${command}: ${counts}`];
  if (summary.eventsPerSecond !== null) {
    parts.push(
      `in ${summary.wallSeconds.toFixed(2)} s (${summary.eventsPerSecond.toFixed(0)} events/s)`,
    );
  }
  if (summary.achievedSpeed !== null) {
    parts.push(
      `achieved speed ${summary.achievedSpeed.toFixed(summary.achievedSpeed < 10 ? 3 : 0)}×`,
    );
  }
  const p = summary.pacingErrorMs;
  if (p !== null) {
    parts.push(
      `pacing error p50 ${p.p50.toFixed(3)} ms, p99 ${p.p99.toFixed(3)} ms, max ${p.max.toFixed(3)} ms`,
    );
  }
  if (summary.interrupted) parts.push('stopped by SIGINT');
  return parts.join(', ');
}
