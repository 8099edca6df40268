/**
 * The coredump server under load: ten crashes at once are all captured, a 1 GiB core streams
 * through the agent (analysed and stored) without the agent's memory growing with it, and a
 * large core that is only analysed is analysed from the ranges its reader thread kept.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { analyseCoreBytes } from './support/core-stream.js';
import { crasher, readelfBuildId } from './support/crashers.js';
import {
  buildHeapGib,
  crash,
  coredumpOf,
  coredumps,
  heapGibPagesInOrder,
  peakRss,
  withCrashAgent,
} from './support/coredumps.js';
import { unzstd } from './support/zstd.js';

const AT_ONCE = 10;
const HEAP_MIB = 1024;
/**
 * A heap far past what the reader thread reads ahead while the plan is made (8 MiB): the
 * mappings after it (libc, the stack) stream after the hand-over of the ranges to the thread.
 */
const ANALYSED_HEAP_MIB = 256;
/**
 * The agent's peak RSS may grow by at most this while a 1 GiB core passes: the head, the
 * planned ranges (16 MiB cap), the reader threads' 8 MiB of slots (which are also the compressor's
 * queue), with room for the garbage collector's lag.
 */
const RSS_GROWTH_MAX = 192 * 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'pidstream-coredump-load-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('coredump server under load', () => {
  it('captures ten crashes that happen at once', async () => {
    const { result, events } = await withCrashAgent(['--core-rate', '100/min'], async () =>
      Promise.all(Array.from({ length: AT_ONCE }, () => crash([crasher('null-deref'), 'read']))),
    );
    for (const c of result) {
      const e = coredumpOf(events, c.pid);
      expect(e.verdict).toBe('ACCEPTED');
      expect(e.signal).toBe(11);
      expect(e.fault_address).toBe(0);
    }
    expect(coredumps(events)).toHaveLength(AT_ONCE);
  }, 300_000);

  it('stores ten crashes that happen at once, each core whole', async () => {
    const store = join(dir, 'ten');
    const { result, events } = await withCrashAgent(
      ['--core-rate', '100/min', '--core-store', store],
      async () =>
        Promise.all(Array.from({ length: AT_ONCE }, () => crash([crasher('null-deref'), 'read']))),
    );
    const buildId = readelfBuildId(crasher('null-deref'));
    for (const c of result) {
      const e = coredumpOf(events, c.pid);
      const core = unzstd(e.stored?.path ?? '');
      expect(core.length).toBe(e.core_size);
      const { analysis } = analyseCoreBytes(core);
      expect(analysis.analysis_error).toBeNull();
      expect(analysis.signal).toBe(11);
      expect(analysis.fault_address).toBe(0);
      expect(analysis.modules.find((m) => m.path === crasher('null-deref'))?.build_id).toBe(
        buildId,
      );
      expect(analysis.signature).toBe(e.signature);
    }
  }, 300_000);

  it('streams a 1 GiB core into the store whole and in order, with the agent RSS bounded', async () => {
    const heap = buildHeapGib(dir);
    const store = join(dir, 'cores');
    let growth = 0;
    const { result, events } = await withCrashAgent(['--core-store', store], async (agent) => {
      const pid = agent.child.pid ?? -1;
      const before = peakRss(pid);
      const crashed = await crash([heap, String(HEAP_MIB)]);
      growth = peakRss(pid) - before;
      return crashed;
    });
    const e = coredumpOf(events, result.pid);
    expect(e.verdict).toBe('ACCEPTED');
    expect(e.core_size).toBeGreaterThan(HEAP_MIB * 1024 * 1024);
    expect(e.truncated).toBe(false);
    expect(e.signal, `analysis_error: ${e.analysis_error}`).toBe(11);
    expect(growth).toBeLessThan(RSS_GROWTH_MAX);

    const stored = e.stored;
    expect(stored?.sensitive).toBe(false);
    const path = stored?.path ?? '';
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(path).size).toBe(stored?.stored_size);
    const bytes = readFileSync(path);
    expect(createHash('sha256').update(bytes).digest('hex')).toBe(stored?.sha256);
    const core = unzstd(path);
    expect(core.length).toBe(e.core_size);
    expect(heapGibPagesInOrder(core, HEAP_MIB)).toBe((HEAP_MIB * 1024 * 1024) / 4096);
  }, 600_000);

  it('analyses a large core it does not store from the ranges its reader thread kept', async () => {
    const heap = buildHeapGib(dir);
    const { result, events } = await withCrashAgent([], () =>
      crash([heap, String(ANALYSED_HEAP_MIB)]),
    );
    const e = coredumpOf(events, result.pid);
    expect(e.verdict).toBe('ACCEPTED');
    expect(e.stored).toBeNull();
    expect(e.truncated).toBe(false);
    expect(e.core_size).toBeGreaterThan(ANALYSED_HEAP_MIB * 1024 * 1024);
    expect(e.analysis_error).toBeNull();
    expect(e.signal).toBe(11);
    expect(e.fault_address).toBe(0);
    const libc = e.modules.find((m) => /libc\.so\.6$/.test(m.path));
    expect(libc?.build_id).toBe(readelfBuildId(libc?.path ?? ''));
    expect(e.modules.find((m) => m.path === heap)?.build_id).toBe(readelfBuildId(heap));
    // The crashing instruction, then the return into libc found on the stack, the last mapping.
    expect(e.backtrace.slice(0, 2).map((f) => [f.module, f.method])).toEqual([
      [heap, 'PC'],
      [libc?.path, 'STACK_SCAN'],
    ]);
  }, 300_000);
});
