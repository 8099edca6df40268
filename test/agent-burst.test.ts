import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { packageRoot } from '../common/paths.js';
import { type AgentRun, type ExitEvent, readEvents, startAgent } from './support/agent.js';

const CHILDREN = 5000;
const PARALLEL = 64;

/** Runs the burst program; returns its pid and the "pid status" lines it printed. */
function burst(binary: string): Promise<{ pid: number; reaped: Map<number, number> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, [String(CHILDREN), String(PARALLEL)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`burst exited ${code}`));
      const reaped = new Map<number, number>();
      for (const line of out.trim().split('\n')) {
        const [pid, status] = line.split(' ').map(Number);
        reaped.set(pid!, status!);
      }
      resolve({ pid: child.pid!, reaped });
    });
  });
}

describe('agent: a burst of short processes', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-burst-'));
  const binary = join(dir, 'burst');
  let agent: AgentRun;
  let run: { pid: number; reaped: Map<number, number> };
  let children: ExitEvent[];

  beforeAll(async () => {
    execFileSync('gcc', ['-O2', '-o', binary, join(packageRoot(), 'test/fixtures/agent/burst.c')]);
    agent = await startAgent();
    run = await burst(binary);
    expect(await agent.stop()).toBe(0);
    const events = await readEvents(agent.outDir);
    children = events.filter((e): e is ExitEvent => e.type === 'exit' && e.ppid === run.pid);
  }, 300_000);

  afterAll(() => {
    agent?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it(`reports each of ${CHILDREN} children exactly once`, () => {
    expect(run.reaped.size).toBe(CHILDREN);
    const seen = new Map<number, number>();
    for (const e of children) seen.set(e.process.pid, (seen.get(e.process.pid) ?? 0) + 1);
    const missing = [...run.reaped.keys()].filter((pid) => !seen.has(pid));
    const twice = [...seen].filter(([, n]) => n > 1).map(([pid]) => pid);
    expect(missing).toEqual([]);
    expect(twice).toEqual([]);
    expect(children).toHaveLength(CHILDREN);
  });

  it('gives every child the wait status its parent reaped', () => {
    const wrong = children.filter((e) => e.wait_status !== run.reaped.get(e.process.pid));
    expect(wrong.map((e) => [e.process.pid, e.wait_status])).toEqual([]);
  });

  it('takes the status from the pidfd, or from the connector when pidfd_open lost the race', () => {
    for (const e of children) {
      expect(e.source).toBe(e.process.pidfs_ino === null ? 'PROC_CONNECTOR' : 'PIDFD');
    }
  });
});
