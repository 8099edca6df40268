/**
 * The warm-up barrier (workers/warm-up.ts) in a real Piscina pool of the query's decode
 * workers: one warm-up per worker lands on each thread, and a barrier that cannot fill gives up
 * at its timeout. A pool destroyed while a worker is still loading koffi aborts the process,
 * so the pools that use koffi wait for this before they are destroyed.
 */
import { Piscina } from 'piscina';
import { afterEach, describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import type { DecodeWorkerData } from '../cli/query/decode-protocol.js';
import type { WarmUpTask } from '../workers/protocol.js';
import { warmUpTask } from '../workers/warm-up.js';

let pool: Piscina<WarmUpTask, boolean> | undefined;

function decodePool(threads: number): Piscina<WarmUpTask, boolean> {
  const workerData: DecodeWorkerData = {
    sources: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT),
    since: 0,
    until: Number.MAX_SAFE_INTEGER,
    dictionaryMaxKeys: 1024,
  };
  pool = new Piscina({
    filename: distFile('cli/query/decode-worker.js'),
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: Infinity,
    workerData,
  });
  return pool;
}

afterEach(async () => {
  await pool?.destroy();
  pool = undefined;
});

describe('warm-up of a worker pool', () => {
  it('lands one warm-up on each worker: every one sees the others arrive', async () => {
    const workers = decodePool(2);
    const task = warmUpTask(2, 10_000);

    const results = await Promise.all([workers.run(task), workers.run(task)]);

    expect(results).toEqual([true, true]);
    expect(new Int32Array(task.arrived)[0]).toBe(2);
    expect(workers.threads.length).toBe(2);
  });

  it('gives up at its timeout when fewer workers arrive than the barrier waits for', async () => {
    const workers = decodePool(2);
    const task = warmUpTask(3, 300);
    const started = performance.now();

    const results = await Promise.all([workers.run(task), workers.run(task)]);

    expect(results).toEqual([false, false]);
    expect(new Int32Array(task.arrived)[0]).toBe(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(300);
  });
});
