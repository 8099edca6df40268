/**
 * Paces a stream by its events' own timestamps. Every event's due moment is computed from the
 * first event's (anchor + (time - first time) / speed) on the monotonic clock, so lateness
 * never accumulates: a late wake-up delays one event, not the rest of the stream.
 *
 * Waiting is in two stages: a timer for the bulk of the wait, stopping short of the due
 * moment by SPIN_WINDOW_MS because Node's timers fire a millisecond or more late on a busy
 * machine; then `setImmediate` turns until the moment comes. Turns of the event loop let the
 * sink's I/O progress meanwhile. A timer set for a delay of a few milliseconds or more
 * fires late by up to a millisecond when the machine is idle and by more under load; the 3 ms
 * window covers the former. The spin costs up to 3 ms of CPU per wait: about 5% of a core for
 * 140 events/s (measured on a synthetic stream), a whole core for streams denser than one event
 * per 3 ms, where waiting by timer alone could not hold the gaps anyway.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

export const SPIN_WINDOW_MS = 3;
/** Cap on the lateness samples kept for the summary's percentiles; later events are counted only. */
export const PACING_SAMPLES_CAP = 1_000_000;

export class Pacer {
  /** Replay speed: 1 is the recorded pace, Infinity as fast as possible. */
  readonly speed: number;
  #anchorMs = 0;
  #firstUs = 0;
  #anchored = false;
  /** How late each paced event was handed on, in milliseconds (negative never: see due()). */
  readonly #lateness: number[] = [];
  #paced = 0;

  constructor(speed: number) {
    this.speed = speed;
  }

  /** Monotonic milliseconds at which an event of time `timeUs` is due. */
  due(timeUs: number): number {
    if (!this.#anchored) {
      this.#anchored = true;
      this.#anchorMs = performance.now();
      this.#firstUs = timeUs;
    }
    return this.#anchorMs + (timeUs - this.#firstUs) / 1000 / this.speed;
  }

  /**
   * Resolves at the event's due moment, or null at once when it is already due: the hot
   * path of `--speed max` and of a backlog allocates no promise.
   */
  wait(timeUs: number, signal: AbortSignal): Promise<void> | null {
    if (this.speed === Number.POSITIVE_INFINITY) return null;
    const dueMs = this.due(timeUs);
    if (performance.now() >= dueMs) {
      this.#record(dueMs);
      return null;
    }
    return this.#waitUntil(dueMs, signal);
  }

  async #waitUntil(dueMs: number, signal: AbortSignal): Promise<void> {
    const coarseMs = dueMs - performance.now() - SPIN_WINDOW_MS;
    if (coarseMs > 0) {
      await sleep(coarseMs, undefined, { signal }).catch((err: unknown) => {
        if (!signal.aborted) throw err;
      });
    }
    while (!signal.aborted && performance.now() < dueMs) await new Promise(setImmediate);
    if (!signal.aborted) this.#record(dueMs);
  }

  #record(dueMs: number): void {
    this.#paced++;
    if (this.#lateness.length < PACING_SAMPLES_CAP) this.#lateness.push(performance.now() - dueMs);
  }

  /** Lateness percentiles over the events paced so far, in milliseconds. */
  lateness(): { paced: number; sampled: number; p50: number; p99: number; max: number } | null {
    if (this.#lateness.length === 0) return null;
    const sorted = Float64Array.from(this.#lateness).sort();
    const at = (q: number): number =>
      sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
    return { paced: this.#paced, sampled: sorted.length, p50: at(0.5), p99: at(0.99), max: at(1) };
  }
}
