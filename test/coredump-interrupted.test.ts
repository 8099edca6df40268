/**
 * A dump the kernel abandons half way (the crashing process got SIGKILL while dumping) is
 * still reported: the Coredump event says truncated and why the analysis fell short, and a
 * CORE_ANALYSIS_FAILED loss names it.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, describe, expect, it } from 'vitest';

import type { EventRecord } from './support/agent.js';
import { buildHeapGib, coredumpOf, withCrashAgent } from './support/coredumps.js';

/** Heap large enough that its dump lasts well beyond the pause below. */
const HEAP_MIB = 1024;
/** After the kernel says the process dumps, let the ack pass and the core start streaming. */
const INTO_THE_STREAM_MS = 300;

const dir = mkdtempSync(join(tmpdir(), 'pidstream-coredump-interrupted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function dumping(pid: number): boolean {
  try {
    return /^CoreDumping:\s+1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Crashes the heap program and kills it while its core streams; resolves with its pid. */
async function crashAndKillMidDump(binary: string): Promise<number> {
  const child = spawn(binary, [String(HEAP_MIB)], { stdio: 'ignore' });
  const pid = child.pid ?? -1;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  while (!dumping(pid)) await sleep(10);
  await sleep(INTO_THE_STREAM_MS);
  child.kill('SIGKILL');
  await exited;
  return pid;
}

describe('an interrupted dump', () => {
  it('is reported truncated, with an analysis error and a CORE_ANALYSIS_FAILED loss', async () => {
    const binary = buildHeapGib(dir);
    const { result: pid, events } = await withCrashAgent([], () => crashAndKillMidDump(binary));
    const e = coredumpOf(events, pid);
    expect(e.verdict).toBe('ACCEPTED');
    expect(e.truncated).toBe(true);
    expect(e.core_size).toBeLessThan(HEAP_MIB * 1024 * 1024);
    expect(e.signal).toBe(11);
    expect(e.analysis_error).toMatch(/planned ranges were not supplied/);
    const loss = events.find(
      (x): x is EventRecord & { attributes: Record<string, string> } =>
        x.type === 'agent' && x.loss_kind === 'CORE_ANALYSIS_FAILED',
    );
    expect(loss?.attributes.pid).toBe(String(pid));
    expect(loss?.attributes.coredump_seq).toBe(String(e.agent.seq));
  }, 300_000);
});
