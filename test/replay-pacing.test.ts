import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { AvroFileSource } from '../streams/avro-file-source.js';

const run = promisify(execFile);

async function pidstream(...args: string[]): Promise<{ stderr: string }> {
  return run('node', [distFile('cli/main.js'), ...args]);
}

async function times(dir: string): Promise<number[]> {
  const out: number[] = [];
  for await (const e of new AvroFileSource(dir).events()) out.push(e.timeUs);
  return out;
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/**
 * The tolerance, on the times written with --rewrite-time now (each event's emission time):
 * the median gap error within 5 ms, 90% of gaps within 25 ms of the recorded gap / speed, and
 * no accumulated drift: the median lateness against the first event within 20 ms (a pacer
 * that chains one relative timer per gap drifts by a millisecond or more per event, hundreds
 * of milliseconds over this stream). The machine running the suites is shared and often
 * overloaded, so the bounds hold a scheduling stall; the pacing error measured on a quieter
 * machine is in docs/replay.md.
 */
function expectPaced(recorded: number[], written: number[], speed: number): void {
  expect(written).toHaveLength(recorded.length);
  const gapErrorsMs = recorded.slice(1).map((t, i) => {
    const want = (t - (recorded[i] as number)) / speed;
    const got = (written[i + 1] as number) - (written[i] as number);
    return Math.abs(got - want) / 1000;
  });
  expect(quantile(gapErrorsMs, 0.5)).toBeLessThan(5);
  expect(quantile(gapErrorsMs, 0.9)).toBeLessThan(25);
  const latenessMs = recorded.map(
    (t, i) =>
      ((written[i] as number) - (written[0] as number) - (t - (recorded[0] as number)) / speed) /
      1000,
  );
  expect(Math.abs(quantile(latenessMs, 0.5))).toBeLessThan(20);
}

describe('replay pacing by the events own times', () => {
  let dir: string;
  let recorded: number[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'replay-pacing-'));
    // 300 events at 50/s of event time: 6 s at the recorded pace, 0.6 s at 10×.
    await pidstream(
      'synth',
      '--to',
      join(dir, 'in'),
      '--count',
      '290',
      '--rate',
      '50/s',
      '--hosts',
      '5',
      '--seed',
      'pacing',
      '--speed',
      'max',
      '--crash-loops',
      '0',
      '--bad-deploys',
      '0',
    );
    recorded = await times(join(dir, 'in'));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes events at the recorded gaps with --speed 1', async () => {
    const { stderr } = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'x1'),
      '--speed',
      '1',
      '--rewrite-time',
      'now',
      '--summary',
      'json',
    );
    expectPaced(recorded, await times(join(dir, 'x1')), 1);
    const summary = JSON.parse(stderr) as { written: number; pacingErrorMs: { sampled: number } };
    expect(summary.written).toBe(300);
    expect(summary.pacingErrorMs.sampled).toBe(300);
  });

  it('writes events at a tenth of the recorded gaps with --speed 10', async () => {
    await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'x10'),
      '--speed',
      '10',
      '--rewrite-time',
      'now',
    );
    expectPaced(recorded, await times(join(dir, 'x10')), 10);
  });
});
