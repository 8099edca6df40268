/**
 * The output end shared by replay and synth: paces events, gathers them into batches for the
 * sink, bounds what the sink has not yet taken (so a slow sink holds the stream back instead
 * of queueing without bound), and counts what was written for the progress line and the
 * summary.
 */
import { performance } from 'node:perf_hooks';

import { PidstreamError } from '../../common/errors.js';
import type { StampedEvent } from '../../ingest/sequencer.js';
import type { EventSink } from '../../streams/types.js';
import { Pacer } from './pacer.js';
import type { ProgressState } from './progress.js';

/** Events per sink write at full speed; a paced stream hands over each event when it is due. */
export const BATCH_CAP = 1024;

/** Events handed to the sink but not yet taken: past this, the stream waits for the sink. */
export const PENDING_EVENTS_CAP = 64 * 1024;

/** Wall-clock microseconds now, from the monotonic clock so that gaps between calls are exact. */
export function nowUs(): number {
  return Math.round((performance.timeOrigin + performance.now()) * 1000);
}

export interface EmitTotals {
  written: number;
  /** Event time of the first and the latest event written, microseconds. */
  firstUs: number | null;
  lastUs: number | null;
  /** Monotonic milliseconds of the first and the latest write. */
  firstMs: number;
  lastMs: number;
}

export class Emitter {
  readonly state: ProgressState = { read: 0, written: 0, timeUs: null };
  readonly totals: EmitTotals = { written: 0, firstUs: null, lastUs: null, firstMs: 0, lastMs: 0 };
  readonly pacer: Pacer;
  readonly #sink: EventSink;
  readonly #signal: AbortSignal;
  #batch: StampedEvent[] = [];
  /** The latest write; sinks settle writes in order, so it settles after all earlier ones. */
  #writing: Promise<void> = Promise.resolve();
  /** Events handed to the sink whose write has not resolved yet. */
  #pending = 0;
  #failure: unknown = null;

  constructor(sink: EventSink, pacer: Pacer, signal: AbortSignal) {
    this.#sink = sink;
    this.pacer = pacer;
    this.#signal = signal;
  }

  /**
   * Null when an event of time `timeUs` is due now; otherwise hands over the events already
   * due and resolves when this one is. Check the abort signal after awaiting it.
   */
  due(timeUs: number): Promise<void> | null {
    const wait = this.pacer.wait(timeUs, this.#signal);
    return wait === null ? null : this.#sendThen(wait);
  }

  async #sendThen(wait: Promise<void>): Promise<void> {
    await this.send();
    await wait;
  }

  /** Adds an event; resolves when a full batch has been handed to the sink, else null. */
  push(event: StampedEvent, timeUs: number): Promise<void> | null {
    this.#batch.push(event);
    const totals = this.totals;
    totals.lastMs = performance.now();
    if (totals.firstUs === null) {
      totals.firstUs = timeUs;
      totals.firstMs = totals.lastMs;
    }
    totals.lastUs = timeUs;
    totals.written++;
    this.state.written = totals.written;
    this.state.read = Math.max(this.state.read, totals.written);
    this.state.timeUs = timeUs;
    return this.#batch.length >= BATCH_CAP ? this.send() : null;
  }

  /**
   * Hands the batch to the sink without waiting for earlier writes: a file sink's write
   * resolves only after its next block is on disk, and waiting for that before handing over
   * the next due event would make the disk's latency the pacing error. Sinks take writes in
   * call order, so order holds; the wait comes only when PENDING_EVENTS_CAP is reached.
   */
  async send(): Promise<void> {
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#pending += batch.length;
    this.#writing = this.#sink.write(batch).then(
      () => {
        this.#pending -= batch.length;
      },
      (err: unknown) => {
        this.#failure ??= err;
      },
    );
    if (this.#pending > PENDING_EVENTS_CAP) await this.#writing;
    this.#check();
  }

  /** Writes what is left and waits for the sink to take it. */
  async drain(): Promise<void> {
    await this.send();
    await this.#writing;
    this.#check();
  }

  #check(): void {
    if (this.#failure === null) return;
    const err = this.#failure;
    if (err instanceof PidstreamError) throw err;
    throw new PidstreamError('PIDSTREAM_ERR_SINK', `writing events: ${(err as Error).message}`, {
      cause: err,
    });
  }
}
