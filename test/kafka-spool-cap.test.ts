import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { type AgentRun, marker, runToEnd, startAgent } from './support/agent.js';
import { spooledEvents, spoolMentions, waitFor } from './support/spool-files.js';

/** Nothing listens here: every event stays in the spool until the cap pushes it out. */
const DEAD_BROKER = '127.0.0.1:39099';
/** The smallest cap the spool takes: two 64 KiB segments. */
const CAP = '128KiB';

interface Spooled {
  type: string;
  kind?: string;
  loss_kind?: string | null;
  count?: number;
  argv?: string[];
  attributes?: Record<string, string>;
  agent: { seq: number };
}

describe('agent at the spool cap', () => {
  const tag = marker('spool-cap');
  const spool = mkdtempSync(join(tmpdir(), 'pidstream-spool-'));
  let agent: AgentRun;
  let events: Spooled[];
  let code: number | null;

  beforeAll(async () => {
    agent = await startAgent([
      '--kafka',
      DEAD_BROKER,
      '--spool',
      spool,
      '--spool-max-bytes',
      CAP,
      '--spool-fsync',
      'none',
    ]);
    // About 500 bytes per exit: 600 exits are more than twice the cap.
    await runToEnd('sh', ['-c', `for i in $(seq 600); do /bin/true ${tag}-burst; done`]);
    await waitFor('the burst to pass through the agent', () =>
      agent.stderr().includes('spool full'),
    );
    // The agent still works after the loss: one more exit reaches the spool.
    await runToEnd('sh', ['-c', 'sleep 0.05', `${tag}-later`]);
    await waitFor('the later exit in the spool', () => spoolMentions(spool, `${tag}-later`) >= 1);
    code = await agent.stop();
    events = spooledEvents(spool) as unknown as Spooled[];
  }, 180_000);

  afterAll(() => {
    agent?.cleanup();
    rmSync(spool, { recursive: true, force: true });
  });

  it('records the dropped events in a LOSS SPOOL_OVERFLOW AgentEvent with their count', () => {
    const losses = events.filter((e) => e.kind === 'LOSS' && e.loss_kind === 'SPOOL_OVERFLOW');
    expect(losses.length).toBeGreaterThanOrEqual(1);
    expect(losses.every((e) => (e.count ?? 0) > 0)).toBe(true);
    // Earlier loss events may themselves be pushed out; the last one's running total accounts
    // for exactly what is missing from the front of the sequence.
    const last = losses[losses.length - 1] as Spooled;
    const first = Math.min(...events.map((e) => e.agent.seq));
    expect(Number(last.attributes?.dropped_total)).toBe(first);
  });

  it('keeps running after the overflow: later exits and the STOP event are spooled', () => {
    expect(events.some((e) => e.argv?.includes(`${tag}-later`))).toBe(true);
    expect(events[events.length - 1]?.kind).toBe('STOP');
    expect(code).toBe(0);
  });

  it('keeps the spool within its cap', () => {
    expect(spoolMentions(spool, `${tag}-burst`)).toBeLessThan(600);
  });
});
