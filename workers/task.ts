/**
 * The Piscina worker entry: one default export that dispatches on `task.task`. Each worker
 * thread builds its encoder once, from the `workerData` the pool was started with, so compiled
 * Avro types, the cgroup index and the user names live as long as the thread.
 *
 * Results go back with `Piscina.move()`: the body and length buffers are transferred to the
 * main thread, not copied.
 */
import Piscina from 'piscina';

import { setThreadName } from '../native/libc.js';
import { analyseCore, planCore, type CoreAnalysis, type CorePlan } from './analyser/index.js';
import { ExitEncoder } from './encode-exits.js';
import {
  type EncodedBodies,
  WORKER_THREAD_NAME,
  type WorkerContext,
  type WarmUpTask,
  type WorkerTask,
} from './protocol.js';

let exits: ExitEncoder | undefined;

setThreadName(WORKER_THREAD_NAME);

function context(): WorkerContext {
  const data = Piscina.workerData as WorkerContext | undefined;
  if (data === undefined) throw new Error('workers/task.js run without workerData: WorkerContext');
  return data;
}

/** The result, with its two buffers listed for transfer. */
class TransferredBodies {
  readonly #result: EncodedBodies;

  constructor(result: EncodedBodies) {
    this.#result = result;
  }

  get [Piscina.transferableSymbol](): ArrayBuffer[] {
    return [this.#result.bodies, this.#result.lengths.buffer as ArrayBuffer];
  }

  get [Piscina.valueSymbol](): EncodedBodies {
    return this.#result;
  }
}

/**
 * Piscina unwraps the moved object before posting it, so the caller of `pool.run()` receives
 * a plain `EncodedBodies`; the cast states that contract for the type checker.
 */
function transfer(result: EncodedBodies): EncodedBodies {
  return Piscina.move(new TransferredBodies(result)) as unknown as EncodedBodies;
}

/** Blocks until every worker of the pool has arrived, or the time is up (WarmUpTask). */
function warmUp(task: WarmUpTask): boolean {
  exits ??= new ExitEncoder(context());
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

export default function run(task: WorkerTask): EncodedBodies | CorePlan | CoreAnalysis | boolean {
  switch (task.task) {
    case 'warm-up':
      return warmUp(task);
    case 'encode-exits':
      exits ??= new ExitEncoder(context());
      return transfer(exits.encode(task.batch, task.count));
    case 'plan-core':
      return planCore(task.head);
    case 'analyse-core':
      return analyseCore(task.head, task.ranges, task.coreSize, task.truncated);
    default:
      throw new Error(`unknown worker task '${String((task as { task: unknown }).task)}'`);
  }
}
