/**
 * How the coredump server talks to the core analyser: it hands over the head of the core,
 * learns which byte ranges the analyser needs, keeps only those while the core streams past,
 * and finally asks for the analysis. The analyser itself (WebAssembly, hostile input) runs in
 * the agent's Piscina workers as the tasks 'plan-core' and 'analyse-core'.
 */

import type { CoreAnalysis, CorePlan, CoreRange } from '../../workers/analyser/index.js';

export type { CoreAnalysis, CorePlan };
export type CoreByteRange = CoreRange;

export interface CoreRangeBytes {
  offset: number;
  bytes: Uint8Array;
}

export interface CoreAnalyser {
  plan(head: Uint8Array): Promise<CorePlan>;
  analyse(
    head: Uint8Array,
    ranges: CoreRangeBytes[],
    coreSize: number,
    truncated: boolean,
  ): Promise<CoreAnalysis>;
}

/** The part of a Piscina pool the adapter uses. */
export interface TaskRunner {
  run(task: unknown, options?: { transferList?: ArrayBuffer[] }): Promise<unknown>;
}

/** The analyser behind the agent's worker pool. Buffers are copied into the task messages. */
export function poolAnalyser(pool: TaskRunner): CoreAnalyser {
  return {
    async plan(head) {
      return (await pool.run({ task: 'plan-core', head })) as CorePlan;
    },
    async analyse(head, ranges, coreSize, truncated) {
      return (await pool.run({
        task: 'analyse-core',
        head,
        ranges,
        coreSize,
        truncated,
      })) as CoreAnalysis;
    },
  };
}

/** An analysis that holds only why there is none. */
export { failedAnalysis as emptyAnalysis } from '../../workers/analyser/index.js';
