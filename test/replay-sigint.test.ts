import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeEvent } from '../cli/replay/event-record.js';
import { distFile } from '../common/paths.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import type { ReadEvent } from '../streams/types.js';

const run = promisify(execFile);

async function readAll(dir: string): Promise<{ events: ReadEvent[]; source: AvroFileSource }> {
  const source = new AvroFileSource(dir);
  const events: ReadEvent[] = [];
  for await (const e of source.events()) events.push(e);
  return { events, source };
}

/** Starts the CLI, waits until `dir` holds a file, interrupts it and returns its exit. */
async function interruptOnceWriting(
  args: string[],
  dir: string,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn('node', [distFile('cli/main.js'), ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  for (;;) {
    const files = (() => {
      try {
        return readdirSync(dir).filter((f) => f.endsWith('.avro'));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
        throw err;
      }
    })();
    if (files.length > 0) break;
    await sleep(50);
  }
  child.kill('SIGINT');
  const [code] = (await exited) as [number | null];
  return { code, stderr };
}

describe('SIGINT during a replay', () => {
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'replay-sigint-'));
    // 20 s of events at the recorded pace: far longer than the test waits.
    await run('node', [
      distFile('cli/main.js'),
      'synth',
      '--to',
      join(dir, 'in'),
      '--duration',
      '20s',
      '--rate',
      '50/s',
      '--hosts',
      '3',
      '--seed',
      'sigint',
      '--speed',
      'max',
    ]);
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stops with exit 130, a summary and closed files holding a prefix of the input', async () => {
    const { code, stderr } = await interruptOnceWriting(
      [
        'replay',
        '--from',
        join(dir, 'in'),
        '--to',
        join(dir, 'out'),
        '--speed',
        '1',
        '--summary',
        'json',
      ],
      join(dir, 'out'),
    );
    expect(code).toBe(130);
    const summary = JSON.parse(stderr.trim()) as { written: number; interrupted: boolean };
    expect(summary.interrupted).toBe(true);

    const input = (await readAll(join(dir, 'in'))).events;
    const { events, source } = await readAll(join(dir, 'out'));
    expect(source.partialTails).toEqual([]);
    expect(events.length).toBe(summary.written);
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(input.length);
    expect(events.map((e) => e.bytes.toString('hex'))).toEqual(
      input.slice(0, events.length).map((e) => e.bytes.toString('hex')),
    );
  });

  it('stops a paced synth with STOP events that close every host stream', async () => {
    const { code } = await interruptOnceWriting(
      [
        'synth',
        '--to',
        join(dir, 'synth'),
        '--duration',
        '1h',
        '--rate',
        '50/s',
        '--hosts',
        '4',
        '--seed',
        'sigint',
      ],
      join(dir, 'synth'),
    );
    expect(code).toBe(130);
    const { events, source } = await readAll(join(dir, 'synth'));
    expect(source.partialTails).toEqual([]);
    const lastByHost = new Map<string, string>();
    for (const e of events) {
      const r = decodeEvent(e.name, e.bytes);
      lastByHost.set(r.agent.host, `${e.name}:${r.kind ?? ''}`);
    }
    expect([...lastByHost.values()]).toEqual([
      'AgentEvent:STOP',
      'AgentEvent:STOP',
      'AgentEvent:STOP',
      'AgentEvent:STOP',
    ]);
  });
});
