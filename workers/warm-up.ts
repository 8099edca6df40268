/**
 * Starting a Piscina pool whole. koffi aborts the process when a worker thread is terminated
 * while koffi is loading in it, which a pool destroyed right after its creation does (an agent
 * stopped just after its start, a query that fails at once). Each pool therefore sends one
 * warm-up task per worker; a worker that takes one blocks until every worker of the pool holds
 * one, so the tasks land one per thread and, once all are done, every worker has loaded its
 * modules. Only then may the pool be destroyed.
 */
import { performance } from 'node:perf_hooks';

import type { WarmUpTask } from './protocol.js';

/** The task to send `workers` times; its result is whether every worker arrived in time. */
export function warmUpTask(workers: number, timeoutMs: number): WarmUpTask {
  return {
    task: 'warm-up',
    arrived: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT),
    workers,
    timeoutMs,
  };
}

export function isWarmUpTask(task: object): task is WarmUpTask {
  return 'task' in task && task.task === 'warm-up';
}

/** Worker side: blocks until every worker of the pool has arrived, or the time is up. */
export function arriveAndWait(task: WarmUpTask): boolean {
  const arrived = new Int32Array(task.arrived);
  let count = Atomics.add(arrived, 0, 1) + 1;
  Atomics.notify(arrived, 0);
  const deadline = performance.now() + task.timeoutMs;
  for (let left = task.timeoutMs; count < task.workers && left > 0;) {
    Atomics.wait(arrived, 0, count, left);
    count = Atomics.load(arrived, 0);
    left = deadline - performance.now();
  }
  return count >= task.workers;
}
