/**
 * The counters the watcher thread publishes in shared memory, as a running agent serves them:
 * the watched-processes gauge is the number of pidfds the agent holds, and the exits by source
 * count the children it saw end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type AgentRun, startAgent } from './support/agent.js';
import { scrapeSamples } from './support/metrics.js';

const SLEEPERS = 50;
/** Attempts at reading the gauge and the descriptors while no process starts or ends. */
const QUIET_ATTEMPTS = 200;

function pidfds(pid: number): number {
  let n = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:[pidfd]') n++;
    } catch {
      // Closed between the listing and the read.
    }
  }
  return n;
}

const WATCHED = 'pidstream_watched_processes';
const exitsFrom = (s: Map<string, number>, source: string): number =>
  s.get(`pidstream_process_exits_total{source="${source}"}`) ?? 0;

/**
 * The gauge and the descriptors agree once no process started or ended between the reads:
 * the watcher publishes its counters after every wake. The host is shared, so this retries.
 */
async function watchedMatchesPidfds(
  url: string,
  pid: number,
): Promise<{ watched: number; pidfds: number }> {
  let last = { watched: -1, pidfds: -2 };
  for (let i = 0; i < QUIET_ATTEMPTS; i++) {
    const before = pidfds(pid);
    const watched = (await scrapeSamples(url)).get(WATCHED) ?? -1;
    const after = pidfds(pid);
    last = { watched, pidfds: after };
    if (before === after && watched === after) return last;
    await sleep(20);
  }
  return last;
}

describe('the watcher thread’s counters in a running agent', () => {
  let agent: AgentRun;
  let url: string;
  let sleepers: ChildProcess[] = [];

  beforeAll(async () => {
    agent = await startAgent([
      '--metrics',
      '127.0.0.1:0',
      '--control-socket',
      join('/run', `pidstream-test-${randomUUID()}.sock`),
    ]);
    for (let i = 0; i < 100 && url === undefined; i++) {
      const line = agent.stderr().match(/"url":"(http:\/\/127\.0\.0\.1:\d+)"/);
      if (line?.[1] !== undefined) url = line[1];
      else await sleep(50);
    }
  }, 120_000);

  afterAll(async () => {
    for (const s of sleepers) s.kill('SIGKILL');
    if (agent?.child.exitCode === null) await agent.stop();
    agent?.cleanup();
  });

  it('counts as watched exactly the pidfds the agent holds', async () => {
    const idle = await watchedMatchesPidfds(url, agent.child.pid!);
    expect(idle.watched).toBe(idle.pidfds);
    sleepers = Array.from({ length: SLEEPERS }, () => spawn('sleep', ['600'], { stdio: 'ignore' }));
    await Promise.all(sleepers.map((s) => new Promise((resolve) => s.once('spawn', resolve))));
    const busy = await watchedMatchesPidfds(url, agent.child.pid!);
    expect(busy.watched).toBe(busy.pidfds);
    expect(busy.watched).toBeGreaterThanOrEqual(SLEEPERS);
  });

  it('counts the exits of killed children by where their status came from', async () => {
    const before = await scrapeSamples(url);
    const exited = Promise.all(
      sleepers.map((s) => new Promise((resolve) => s.once('exit', resolve))),
    );
    for (const s of sleepers) s.kill('SIGKILL');
    await exited;
    let after = await scrapeSamples(url);
    for (
      let i = 0;
      i < 200 && exitsFrom(after, 'PIDFD') - exitsFrom(before, 'PIDFD') < SLEEPERS;
      i++
    ) {
      await sleep(20);
      after = await scrapeSamples(url);
    }
    // The sleepers lived long enough to be watched: every exit came from its pidfd.
    expect(exitsFrom(after, 'PIDFD') - exitsFrom(before, 'PIDFD')).toBeGreaterThanOrEqual(SLEEPERS);
  });
});
