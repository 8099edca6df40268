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
import { arriveAndWait } from './warm-up.js';

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

/** Builds the encoder, then waits for the pool's other workers (workers/warm-up.ts). */
function warmUp(task: WarmUpTask): boolean {
  exits ??= new ExitEncoder(context());
  return arriveAndWait(task);
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
