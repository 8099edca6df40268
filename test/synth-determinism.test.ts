import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { FleetGenerator, SynthOptions } from '../cli/synth/generator.js';

const run = promisify(execFile);

const options: SynthOptions = {
  seed: 'determinism',
  hosts: 12,
  rate: 500,
  startUs: Date.UTC(2026, 0, 1) * 1000,
  count: 5000,
  durationUs: null,
  signatures: 50,
  zipfExponent: 1.1,
  crashLoops: 1,
  badDeploys: 1,
};

function streamOf(o: SynthOptions): Buffer {
  const parts: Buffer[] = [];
  for (const event of new FleetGenerator(o).events()) parts.push(event.bytes);
  return Buffer.concat(parts);
}

async function synthJson(seed: string): Promise<string> {
  const { stdout } = await run(
    'node',
    [
      distFile('cli/main.js'),
      'synth',
      '--to',
      '-',
      '--count',
      '300',
      '--rate',
      'max',
      '--hosts',
      '5',
      '--seed',
      seed,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  return stdout;
}

describe('synth determinism', () => {
  it('generates the same Avro records, byte for byte, from the same seed', () => {
    const a = streamOf(options);
    const b = streamOf(options);
    expect(a.length).toBeGreaterThan(1_000_000);
    expect(a.equals(b)).toBe(true);
  });

  it('generates a different stream from a different seed', () => {
    const a = streamOf(options);
    const b = streamOf({ ...options, seed: 'determinism-2' });
    expect(a.equals(b)).toBe(false);
  });

  it('writes the same JSON lines on stdout for the same seed and different ones for another', async () => {
    const [a, b, c] = await Promise.all([synthJson('42'), synthJson('42'), synthJson('43')]);
    // 300 process events, one START and one STOP per host.
    expect(a.trimEnd().split('\n')).toHaveLength(310);
    expect(a).toBe(b);
    expect(a).not.toBe(c);
  });

  it('takes its times from --start, not from the clock', () => {
    const first = new FleetGenerator(options).events().next().value;
    expect(first?.timeUs).toBe(Date.UTC(2026, 0, 1) * 1000);
  });
});
