/**
 * The analyser as the agent runs it: `plan-core` and `analyse-core` tasks on the Piscina
 * worker entry (dist/workers/task.js), fed a real core and a damaged one.
 */
import { readFileSync } from 'node:fs';

import { Piscina } from 'piscina';
import { afterAll, beforeAll, expect, test } from 'vitest';

import { distFile } from '../common/paths.js';
import type { CoreAnalysis, CorePlan } from '../workers/analyser/index.js';
import type { AnalyseCoreTask, PlanCoreTask } from '../workers/protocol.js';
import { crasher, crashWithCore, type CrashedProcess } from './support/crashers.js';

const pool = new Piscina({ filename: distFile('workers/task.js'), maxThreads: 1 });
let crash: CrashedProcess;
let core: Buffer;

beforeAll(async () => {
  crash = await crashWithCore([crasher('null-deref'), 'read']);
  core = readFileSync(crash.core);
});
afterAll(async () => {
  crash?.dispose();
  await pool.destroy();
});

async function plan(head: Uint8Array): Promise<CorePlan> {
  return (await pool.run({ task: 'plan-core', head } satisfies PlanCoreTask)) as CorePlan;
}

/** Streams `bytes` to the worker as the coredump server would, ending early if they run out. */
async function viaWorker(bytes: Uint8Array): Promise<CoreAnalysis> {
  let head = bytes.subarray(0, 64);
  let answer = await plan(head);
  while ('needHead' in answer && answer.needHead <= bytes.length) {
    head = bytes.subarray(0, answer.needHead);
    answer = await plan(head);
  }
  // The stream ended before the head the plan asked for: everything that came is head.
  if ('needHead' in answer) head = bytes;
  const planned = 'ranges' in answer ? answer.ranges : [];
  const task: AnalyseCoreTask = {
    task: 'analyse-core',
    head,
    ranges: planned.map((r) => ({
      offset: r.offset,
      bytes: bytes.subarray(r.offset, r.offset + r.length),
    })),
    coreSize: bytes.length,
    truncated: !('ranges' in answer),
  };
  return (await pool.run(task)) as CoreAnalysis;
}

test('analyses a real core in a worker thread', async () => {
  const analysis = await viaWorker(core);
  expect(analysis.analysis_error).toBeNull();
  expect([analysis.signal, analysis.si_code, analysis.fault_address]).toEqual([11, 1, 0]);
  expect(analysis.signature).toMatch(/^[0-9a-f]{64}$/);
});

test('answers a core with broken notes with analysis_error, and the worker lives on', async () => {
  const broken = new Uint8Array(core);
  const phoff = Number(core.readBigUInt64LE(32));
  // The first program header is the PT_NOTE segment; point its notes past the end of the core.
  new DataView(broken.buffer).setBigUint64(phoff + 8, BigInt(core.length), true);
  const analysis = await viaWorker(broken);
  expect(analysis.analysis_error).toBe(
    `the core ends at byte ${core.length}, before its notes do; the core holds no NT_PRSTATUS note`,
  );
  expect(analysis.signal).toBeNull();

  expect((await viaWorker(core)).signal).toBe(11);
});
