/**
 * Stopping the agent while processes keep exiting: the watcher thread hands on everything the
 * kernel reported before the stop, and nothing twice, and the agent's threads carry names.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { packageRoot } from '../common/paths.js';
import { WATCHER_THREAD_NAME } from '../ingest/watcher-protocol.js';
import { WORKER_THREAD_NAME } from '../workers/protocol.js';
import {
  agentEvents,
  type AgentRun,
  type EventRecord,
  type ExitEvent,
  readEvents,
  startAgent,
} from './support/agent.js';

/** Long enough that the burst is still forking when the agent is stopped. */
const CHILDREN = 20_000;
const PARALLEL = 16;
const STOP_AFTER_MS = 500;
/**
 * A child reaped this long before the SIGTERM was sent has had its exit notice and hang-up
 * queued by the kernel: the exiting task sends its notice microseconds after it is reapable.
 */
const REPORTED_MARGIN_US = 5_000;

interface Reaped {
  status: number;
  atUs: number;
}

function threadNames(pid: number): string[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) =>
    readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim(),
  );
}

describe('agent: stopped while a burst of processes is still exiting', () => {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-stop-'));
  const binary = join(dir, 'burst');
  let agent: AgentRun;
  let names: string[];
  let stopAtUs: number;
  let agentExit: number | null;
  let burstPid: number;
  let reaped: Map<number, Reaped>;
  let events: EventRecord[];
  let children: ExitEvent[];

  beforeAll(async () => {
    execFileSync('gcc', ['-O2', '-o', binary, join(packageRoot(), 'test/fixtures/agent/burst.c')]);
    agent = await startAgent();
    // The agent reports it started once its worker has loaded its task module.
    names = threadNames(agent.child.pid!);
    const burst = spawn(binary, [String(CHILDREN), String(PARALLEL)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    burst.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const burstDone = new Promise<number | null>((resolve) => burst.on('exit', resolve));
    await sleep(STOP_AFTER_MS);
    stopAtUs = Date.now() * 1000;
    agentExit = await agent.stop();
    expect(await burstDone).toBe(0);
    burstPid = burst.pid!;
    reaped = new Map();
    for (const line of out.trim().split('\n')) {
      const [pid, status, atUs] = line.split(' ').map(Number);
      reaped.set(pid!, { status: status!, atUs: atUs! });
    }
    events = await readEvents(agent.outDir);
    children = events.filter((e): e is ExitEvent => e.type === 'exit' && e.ppid === burstPid);
  }, 300_000);

  afterAll(() => {
    agent?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stops with exit code 0 while children are still being forked', () => {
    expect(agentExit).toBe(0);
    const after = [...reaped.values()].filter((r) => r.atUs > stopAtUs);
    expect(after.length).toBeGreaterThan(0);
  });

  it('reports every child reaped before the SIGTERM', () => {
    const seen = new Set(children.map((e) => e.process.pid));
    const before = [...reaped].filter(([, r]) => r.atUs < stopAtUs - REPORTED_MARGIN_US);
    expect(before.length).toBeGreaterThan(0);
    expect(before.filter(([pid]) => !seen.has(pid)).map(([pid]) => pid)).toEqual([]);
  });

  it('reports no child twice, each with the wait status its parent reaped', () => {
    const counts = new Map<number, number>();
    for (const e of children) counts.set(e.process.pid, (counts.get(e.process.pid) ?? 0) + 1);
    expect([...counts].filter(([, n]) => n > 1)).toEqual([]);
    const wrong = children.filter((e) => e.wait_status !== reaped.get(e.process.pid)?.status);
    expect(wrong.map((e) => [e.process.pid, e.wait_status])).toEqual([]);
  });

  it('writes the STOP AgentEvent last, after every exit it reports', () => {
    const last = events[events.length - 1];
    expect(last?.type).toBe('agent');
    expect(agentEvents(events).at(-1)?.kind).toBe('STOP');
  });

  it('names the exit watcher thread and the worker thread', () => {
    expect(names.filter((n) => n === WATCHER_THREAD_NAME)).toHaveLength(1);
    expect(names.filter((n) => n === WORKER_THREAD_NAME)).toHaveLength(1);
  });
});
