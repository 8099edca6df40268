/**
 * Feeds a core held in memory to the analyser the way the coredump server does: the head grows
 * until planCore stops asking for more, then only the planned ranges are kept.
 */
import { readFileSync } from 'node:fs';

import {
  analyseCore,
  planCore,
  type CoreAnalysis,
  type CoreRange,
} from '../../workers/analyser/index.js';
import { crashWithCore, type CrashedProcess } from './crashers.js';

/** Rounds of planCore before giving up on a head that keeps asking for more. */
const MAX_PLAN_ROUNDS = 8;

export interface StreamedAnalysis {
  analysis: CoreAnalysis;
  /** Bytes of head the plan asked for. */
  headBytes: number;
  ranges: CoreRange[];
}

export function analyseCoreBytes(core: Uint8Array): StreamedAnalysis {
  let headLen = Math.min(64, core.length);
  let truncated = false;
  for (let round = 0; round < MAX_PLAN_ROUNDS; round++) {
    const plan = planCore(core.subarray(0, headLen));
    if ('ranges' in plan) {
      const kept = plan.ranges
        .filter((r) => r.offset < core.length)
        .map((r) => ({ offset: r.offset, bytes: core.slice(r.offset, r.offset + r.length) }));
      truncated = kept.length < plan.ranges.length;
      const analysis = analyseCore(core.subarray(0, headLen), kept, core.length, truncated);
      return { analysis, headBytes: headLen, ranges: plan.ranges };
    }
    if (plan.needHead > core.length) {
      truncated = true;
      break;
    }
    if (plan.needHead <= headLen)
      throw new Error(`planCore asked for ${plan.needHead} bytes again`);
    headLen = plan.needHead;
  }
  const analysis = analyseCore(core.subarray(0, core.length), [], core.length, truncated);
  return { analysis, headBytes: core.length, ranges: [] };
}

/** Crashes `argv` into a core file (crashWithCore) and analyses the core as streamed. */
export async function crashAndAnalyse(argv: string[]): Promise<[CrashedProcess, CoreAnalysis]> {
  const crash = await crashWithCore(argv);
  return [crash, analyseCoreBytes(readFileSync(crash.core)).analysis];
}
