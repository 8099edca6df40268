/**
 * Real C programs crash into real core files; the analyser reads them as the coredump server
 * feeds it (head first, then the planned ranges) and must report what the kernel recorded.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import type { CoreAnalysis, CoreFrame } from '../workers/analyser/index.js';
import { crashAndAnalyse } from './support/core-stream.js';
import {
  CRASHER_PACKAGE,
  crasher,
  readelfBuildId,
  symbolRange,
  type CrashedProcess,
} from './support/crashers.js';

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';

/**
 * Whether a frame lies in a function. A return address points just past its call, which may be
 * the first byte of the next function when the call is the last instruction (a call to a
 * noreturn function), so it is looked up one byte back, as symbolisers do.
 */
function inSymbol(binary: string, symbol: string, frame: CoreFrame | undefined): boolean {
  if (frame === undefined) return false;
  const [start, end] = symbolRange(binary, symbol);
  const at = frame.method === 'PC' ? frame.offset : frame.offset - 1;
  return at >= start && at < end;
}

describe('a null dereference', () => {
  const binary = crasher('null-deref');
  let crash: CrashedProcess;
  let analysis: CoreAnalysis;

  beforeAll(async () => {
    [crash, analysis] = await crashAndAnalyse([binary, 'read']);
  });
  afterAll(() => crash?.dispose());

  test('reports SIGSEGV, SEGV_MAPERR and fault address 0', () => {
    expect(crash.signal).toBe('SIGSEGV');
    expect(analysis.analysis_error).toBeNull();
    expect(analysis.signal).toBe(11);
    expect(analysis.si_code).toBe(1);
    expect(analysis.fault_address).toBe(0);
  });

  test('names one thread, the crashing process itself', () => {
    expect(analysis.thread_count).toBe(1);
    expect(analysis.crashing_tid).toBe(crash.pid);
    expect(analysis.pid).toBe(crash.pid);
  });

  test('gives the executable the build-id readelf -n prints', () => {
    const exe = analysis.modules.find((m) => m.path === binary);
    expect(exe?.build_id).toBe(readelfBuildId(binary));
  });

  test('reads the package metadata note the executable was linked with', () => {
    expect(analysis.modules.find((m) => m.path === binary)?.package).toBe(CRASHER_PACKAGE);
    expect(analysis.modules.find((m) => m.path === LIBC)?.package).toBeNull();
  });

  test('lists libc with the build-id readelf -n prints for it', () => {
    const libc = analysis.modules.find((m) => m.path === LIBC);
    expect(libc?.build_id).toBe(readelfBuildId(LIBC));
    expect(libc!.start).toBeLessThan(libc!.end);
  });

  test('walks the frame pointers from the faulting function to main, at nm offsets', () => {
    const [pc, run, main] = analysis.backtrace;
    expect([pc?.method, run?.method, main?.method]).toEqual([
      'PC',
      'FRAME_POINTER',
      'FRAME_POINTER',
    ]);
    expect(pc?.module).toBe(binary);
    expect(pc?.build_id).toBe(readelfBuildId(binary));
    expect(inSymbol(binary, 'crash_read', pc)).toBe(true);
    expect(inSymbol(binary, 'run', run)).toBe(true);
    expect(inSymbol(binary, 'main', main)).toBe(true);
  });
});

describe('an abort', () => {
  let crash: CrashedProcess;
  let analysis: CoreAnalysis;

  beforeAll(async () => {
    [crash, analysis] = await crashAndAnalyse([crasher('abort')]);
  });
  afterAll(() => crash?.dispose());

  test('reports SIGABRT sent by the process to itself (SI_TKILL), without a fault address', () => {
    expect(crash.signal).toBe('SIGABRT');
    expect(analysis.analysis_error).toBeNull();
    expect(analysis.signal).toBe(6);
    expect(analysis.si_code).toBe(-6);
    expect(analysis.fault_address).toBeNull();
  });

  test('starts the backtrace in libc and finds the calling function on the stack', () => {
    const binary = crasher('abort');
    expect(analysis.backtrace[0]).toMatchObject({ module: LIBC, method: 'PC' });
    const giveUp = analysis.backtrace.find((f) => inSymbol(binary, 'give_up', f));
    expect(giveUp?.module).toBe(binary);
  });
});

describe('a crash in one of several threads', () => {
  let crash: CrashedProcess;
  let analysis: CoreAnalysis;

  beforeAll(async () => {
    [crash, analysis] = await crashAndAnalyse([crasher('threads')]);
  });
  afterAll(() => crash?.dispose());

  test('counts the main thread and four workers, and names the worker that faulted', () => {
    const faultingTid = Number(crash.stdout.trim());
    expect(faultingTid).not.toBe(crash.pid);
    expect(analysis.thread_count).toBe(5);
    expect(analysis.crashing_tid).toBe(faultingTid);
    expect(analysis.pid).toBe(crash.pid);
  });

  test('backtraces the faulting worker, not the main thread', () => {
    const binary = crasher('threads');
    const [pc, caller] = analysis.backtrace;
    expect(inSymbol(binary, 'crash_in_worker', pc)).toBe(true);
    expect(inSymbol(binary, 'worker', caller)).toBe(true);
  });
});

describe('a stack overflow', () => {
  let crash: CrashedProcess;
  let analysis: CoreAnalysis;

  beforeAll(async () => {
    [crash, analysis] = await crashAndAnalyse([crasher('stack-overflow')]);
  });
  afterAll(() => crash?.dispose());

  test('reports SIGSEGV and a full backtrace of the recursing function', () => {
    const binary = crasher('stack-overflow');
    expect(analysis.analysis_error).toBeNull();
    expect(analysis.signal).toBe(11);
    expect(analysis.si_code).toBe(1);
    expect(analysis.backtrace.length).toBe(64);
    for (const frame of analysis.backtrace) {
      expect(inSymbol(binary, 'descend', frame)).toBe(true);
    }
  });
});
