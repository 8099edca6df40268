/**
 * Batches of raw exit records (from the watcher thread) to the workers, and Avro bodies back,
 * in order. Each batch's buffer is transferred (not copied) to a Piscina worker. Batches may
 * come back out of order: each has a number, and bodies are handed on strictly in batch order
 * so the sequence numbers follow the order in which exits were seen.
 */
import type { Piscina } from 'piscina';

import type { EncodedBodies, EncodeExitsTask } from '../workers/protocol.js';
import { agentMetrics } from './metrics.js';
import { MAX_BATCHES_IN_FLIGHT } from './options.js';

export interface BatchOutput {
  /** One encoded ProcessExit body, in batch order. */
  body(bytes: Uint8Array): void;
  /** Records that will never become events: each is reported as a RECORD_DROPPED loss. */
  dropped(count: number, reason: string): void;
}

type Done = { ok: true; result: EncodedBodies } | { ok: false; count: number; reason: string };

export class ExitBatches {
  readonly #pool: Piscina<EncodeExitsTask, EncodedBodies>;
  readonly #out: BatchOutput;
  readonly #done = new Map<number, Done>();
  #nextBatch = 0;
  #nextToHandOn = 0;
  #idle: (() => void)[] = [];

  constructor(pool: Piscina<EncodeExitsTask, EncodedBodies>, out: BatchOutput) {
    this.#pool = pool;
    this.#out = out;
  }

  /** Batches sent to the workers and not yet handed on. */
  get inFlight(): number {
    return this.#nextBatch - this.#nextToHandOn;
  }

  /** Sends `count` raw records in `batch` (transferred) to a worker. */
  add(batch: ArrayBuffer, count: number): void {
    const n = this.#nextBatch++;
    if (this.inFlight > MAX_BATCHES_IN_FLIGHT) {
      this.#settle(n, { ok: false, count, reason: 'worker queue full' });
      return;
    }
    const sentAt = performance.now();
    this.#pool.run({ task: 'encode-exits', batch, count }, { transferList: [batch] }).then(
      (result) => {
        agentMetrics.workerTaskSeconds.observe((performance.now() - sentAt) / 1000);
        this.#settle(n, { ok: true, result });
      },
      (err: unknown) =>
        this.#settle(n, {
          ok: false,
          count,
          reason: `worker failed: ${err instanceof Error ? err.message : String(err)}`,
        }),
    );
  }

  /** Resolves once every batch sent so far has been handed on. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  #settle(n: number, done: Done): void {
    this.#done.set(n, done);
    for (let next = this.#done.get(this.#nextToHandOn); next !== undefined;) {
      this.#done.delete(this.#nextToHandOn);
      this.#nextToHandOn++;
      this.#handOn(next);
      next = this.#done.get(this.#nextToHandOn);
    }
    if (this.inFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
  }

  #handOn(done: Done): void {
    if (!done.ok) {
      this.#out.dropped(done.count, done.reason);
      return;
    }
    const { bodies, lengths, dropped } = done.result;
    let at = 0;
    for (const length of lengths) {
      this.#out.body(new Uint8Array(bodies, at, length));
      at += length;
    }
    if (dropped.length > 0) {
      this.#out.dropped(dropped.length, dropped[0]?.reason ?? 'undecodable record');
    }
  }
}
