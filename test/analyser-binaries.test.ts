/**
 * Binaries built other ways, and an interpreter: a stripped binary (no symbols, build-id
 * kept), a static binary (no libc module, not position-independent), and a Python process
 * crashed through ctypes.
 */
import { afterAll, describe, expect, test } from 'vitest';

import type { CoreAnalysis } from '../workers/analyser/index.js';
import { crashAndAnalyse } from './support/core-stream.js';
import { crasher, readelfBuildId, symbolRange, type CrashedProcess } from './support/crashers.js';

const PYTHON = '/usr/bin/python3.11';
const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const crashes: CrashedProcess[] = [];
afterAll(() => crashes.forEach((c) => c.dispose()));

async function analyse(argv: string[]): Promise<CoreAnalysis> {
  const [crash, analysis] = await crashAndAnalyse(argv);
  crashes.push(crash);
  return analysis;
}

describe('a stripped binary', () => {
  test('keeps its build-id, and the backtrace and signature of its unstripped twin', async () => {
    const stripped = crasher('null-deref', 'stripped');
    const unstripped = crasher('null-deref');
    const a = await analyse([stripped, 'read']);
    const b = await analyse([unstripped, 'read']);

    expect(a.analysis_error).toBeNull();
    expect(a.modules.find((m) => m.path === stripped)?.build_id).toBe(readelfBuildId(stripped));
    expect(readelfBuildId(stripped)).toBe(readelfBuildId(unstripped));
    expect(a.backtrace.map((f) => [f.offset, f.method])).toEqual(
      b.backtrace.map((f) => [f.offset, f.method]),
    );
    expect(a.signature).toBe(b.signature);
  });
});

describe('a static binary', () => {
  test('has no libc module and reports the fault at its link-time address', async () => {
    const binary = crasher('null-deref', 'static');
    const a = await analyse([binary, 'read']);

    expect(a.analysis_error).toBeNull();
    expect([a.signal, a.si_code, a.fault_address]).toEqual([11, 1, 0]);
    expect(a.modules.map((m) => m.path)).toEqual([binary, '[vdso]']);
    expect(a.modules[0]?.build_id).toBe(readelfBuildId(binary));
    const [start, end] = symbolRange(binary, 'crash_read');
    expect(a.backtrace[0]?.method).toBe('PC');
    expect(a.backtrace[0]?.offset).toBeGreaterThanOrEqual(start);
    expect(a.backtrace[0]?.offset).toBeLessThan(end);
  });
});

describe('a Python process', () => {
  test('reports the null read ctypes made, with python and libc build-ids', async () => {
    const a = await analyse([PYTHON, '-c', 'import ctypes; ctypes.string_at(0)']);

    expect(a.analysis_error).toBeNull();
    expect([a.signal, a.si_code, a.fault_address]).toEqual([11, 1, 0]);
    expect(a.comm).toBe('python3.11');
    expect(a.modules.find((m) => m.path === PYTHON)?.build_id).toBe(readelfBuildId(PYTHON));
    expect(a.modules.find((m) => m.path === LIBC)?.build_id).toBe(readelfBuildId(LIBC));
    expect(a.backtrace[0]).toMatchObject({ module: LIBC, method: 'PC' });
    expect(a.backtrace.some((f) => f.module?.includes('_ctypes') === true)).toBe(true);
  });

  test('reports a SIGSEGV sent by kill as user-sent, without a fault address', async () => {
    const a = await analyse([
      PYTHON,
      '-c',
      'import os, signal; os.kill(os.getpid(), signal.SIGSEGV)',
    ]);

    expect([a.signal, a.si_code, a.fault_address]).toEqual([11, 0, null]);
    expect(a.signature).toMatch(/^[0-9a-f]{64}$/);
  });
});
