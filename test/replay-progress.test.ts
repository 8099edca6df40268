import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { countFileEvents } from '../cli/replay/extent.js';
import { Progress } from '../cli/replay/progress.js';
import { FleetGenerator } from '../cli/synth/generator.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import { openSink } from '../streams/open.js';

async function sourceCount(dir: string): Promise<number> {
  const source = new AvroFileSource(dir);
  let n = 0;
  for await (const event of source.events()) n += event.bytes.length > 0 ? 1 : 0;
  return n;
}

describe('replay progress', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'replay-progress-'));
    const generator = new FleetGenerator({
      seed: 'progress',
      hosts: 4,
      rate: 1000,
      startUs: Date.UTC(2026, 0, 1) * 1000,
      count: 5000,
      durationUs: null,
      signatures: 20,
      zipfExponent: 1.1,
      crashLoops: 0,
      badDeploys: 0,
    });
    const sink = await openSink(join(dir, 'in'));
    await sink.write([...generator.events()]);
    await sink.close();
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('counts the events of container files from their block headers alone', async () => {
    expect(await countFileEvents(join(dir, 'in'))).toBe(5008);
  });

  it('counts only the complete blocks of a file cut inside its last block, as the source reads', async () => {
    const [name] = readdirSync(join(dir, 'in'));
    const file = join(dir, 'in', name as string);
    truncateSync(file, statSync(file).size - 100);
    const counted = await countFileEvents(file);
    expect(counted).toBe(await sourceCount(file));
    expect(counted).toBeLessThan(5008);
  });

  it('draws a bar, the rate and the ETA on one rewritten line', async () => {
    const lines: string[] = [];
    const stream = { write: (s: string) => lines.push(s) > 0 } as unknown as NodeJS.WriteStream;
    const state = { read: 0, written: 0, timeUs: null as number | null };
    const progress = new Progress(stream, state, {
      startUs: null,
      endUs: null,
      total: 1000,
      speed: Infinity,
    });
    progress.start();
    state.read = 250;
    state.written = 200;
    state.timeUs = Date.UTC(2026, 0, 1) * 1000;
    await new Promise((resolve) => setTimeout(resolve, 600));
    progress.stop();
    expect(lines[0]).toMatch(
      /^\r\x1b\[2K\[#{6}\.{18}\] 25% 200 events, \d+\/s at 2026-01-01T00:00:00\.000Z, ETA \d+:\d\d:\d\d$/,
    );
    expect(lines[lines.length - 1]).toBe('\r\x1b[2K');
  });
});
