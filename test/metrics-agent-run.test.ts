import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import type { EventName } from '../schemas/index.js';
import { type AgentRun, readEvents, startAgent } from './support/agent.js';
import { scrapeSamples } from './support/metrics.js';

const run = promisify(execFile);
const CHILDREN = 300;

async function waitFor<T>(what: string, probe: () => Promise<T | null> | T | null): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = await probe();
    if (got !== null) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const eventsOf = (samples: Map<string, number>, type: EventName): number =>
  samples.get(`pidstream_events_total{type="${type}"}`) ?? -1;

function logLines(agent: AgentRun): { level: number; msg: string; url?: string }[] {
  return agent
    .stderr()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string; url?: string });
}

describe('metrics of a running agent', () => {
  it('match the events the agent wrote, and the agent logs no line per event', async () => {
    const agent = await startAgent([
      '--no-coredumps',
      '--metrics',
      '127.0.0.1:0',
      '--control-socket',
      join('/run', `pidstream-test-${randomUUID()}.sock`),
    ]);
    try {
      const url = await waitFor('the metrics endpoint', () => {
        return logLines(agent).find((l) => l.msg === 'metrics endpoint listening')?.url ?? null;
      });
      expect((await fetch(`${url}/readyz`)).status).toBe(200);

      const marker = `metrics-${randomUUID()}`;
      await run('/bin/sh', ['-c', `for i in $(seq ${CHILDREN}); do /bin/true ${marker}; done`]);
      const samples = await waitFor('the exits to be counted', async () => {
        const s = await scrapeSamples(url);
        return eventsOf(s, 'ProcessExit') >= CHILDREN ? s : null;
      });
      expect(await agent.stop()).toBe(0);

      // Every event counted at the scrape was stamped before it: the first N sequence numbers.
      const counted = ['ProcessExit', 'Coredump', 'AgentEvent'] as const;
      const total = counted.reduce((n, t) => n + eventsOf(samples, t), 0);
      const events = await readEvents(agent.outDir);
      const early = events.filter((e) => (e.agent as { seq: number }).seq < total);
      const byType = { exit: 'ProcessExit', coredump: 'Coredump', agent: 'AgentEvent' } as const;
      const written = Object.fromEntries(counted.map((t) => [t, 0]));
      for (const e of early) written[byType[e.type]] = (written[byType[e.type]] ?? 0) + 1;
      expect(written).toEqual(Object.fromEntries(counted.map((t) => [t, eventsOf(samples, t)])));
      // Each child exits; how many of them kept their argv is the watcher's concern, not this test's.
      expect(events.filter((e) => e.type === 'exit').length).toBeGreaterThanOrEqual(CHILDREN);

      const logs = logLines(agent);
      expect(logs.map((l) => l.msg)).toEqual(
        expect.arrayContaining(['agent started', 'metrics endpoint listening', 'agent stopped']),
      );
      // Thousands of events, a handful of lines: nothing at info or above is per event.
      expect(logs.filter((l) => l.level >= 30).length).toBeLessThan(20);
    } finally {
      if (agent.child.exitCode === null) await agent.stop();
      agent.cleanup();
    }
  });
});
