import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { decodeEvent, EventRecord } from '../cli/replay/event-record.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import type { ReadEvent } from '../streams/types.js';
import { hasProblems, StreamVerifier } from '../streams/verify.js';

const run = promisify(execFile);

const START = '2026-01-01T00:00:00Z';
const START_US = Date.UTC(2026, 0, 1) * 1000;

async function pidstream(...args: string[]): Promise<{ stderr: string }> {
  return run('node', [distFile('cli/main.js'), ...args], { maxBuffer: 64 * 1024 * 1024 });
}

async function readAll(dir: string): Promise<ReadEvent[]> {
  const events: ReadEvent[] = [];
  for await (const e of new AvroFileSource(dir).events()) events.push(e);
  return events;
}

function summaryOf(stderr: string): Record<string, number> {
  return JSON.parse(stderr.trim().split('\n').pop() as string) as Record<string, number>;
}

describe('replay between Avro files', () => {
  let dir: string;
  let input: ReadEvent[];
  let decoded: { name: string; record: EventRecord }[];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'replay-files-'));
    // 3000 process events over about 15 s of event time, with a crash loop and a bad deploy.
    await pidstream(
      'synth',
      '--to',
      join(dir, 'in'),
      '--count',
      '3000',
      '--rate',
      '200/s',
      '--hosts',
      '8',
      '--seed',
      'files',
      '--start',
      START,
      '--speed',
      'max',
      '--crash-loops',
      '1',
      '--bad-deploys',
      '1',
    );
    input = await readAll(join(dir, 'in'));
    decoded = input.map((e) => ({ name: e.name, record: decodeEvent(e.name, e.bytes) }));
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reproduces the same Avro records, byte for byte, without rewriting', async () => {
    const { stderr } = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'copy'),
      '--speed',
      'max',
      '--summary',
      'json',
    );
    const output = await readAll(join(dir, 'copy'));
    expect(input).toHaveLength(3016);
    expect(output.map((e) => e.bytes.toString('hex'))).toEqual(
      input.map((e) => e.bytes.toString('hex')),
    );
    expect(summaryOf(stderr)).toMatchObject({
      read: 3016,
      written: 3016,
      filtered: 0,
      outOfRange: 0,
    });
  });

  it('keeps exactly the events a filter selects, and counts the rest as filtered', async () => {
    const expected = decoded.filter(
      ({ name, record }) =>
        name === 'Coredump' &&
        (record.signal === 11 || record.signal === 6) &&
        /postgres|python/.test(record.exe ?? ''),
    );
    const { stderr } = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'filtered'),
      '--speed',
      'max',
      '--summary',
      'json',
      '--filter',
      'type == "coredump" and signal in (SIGSEGV, SIGABRT) and exe ~ "postgres|python"',
    );
    const output = await readAll(join(dir, 'filtered'));
    expect(expected.length).toBeGreaterThan(5);
    expect(output).toHaveLength(expected.length);
    expect(summaryOf(stderr)).toMatchObject({
      read: 3016,
      written: expected.length,
      filtered: 3016 - expected.length,
    });
  });

  it('selects [--since, --until) by event time, ISO-8601 or relative', async () => {
    const sinceUs = START_US + 5_000_000;
    const untilUs = START_US + 10_000_000;
    const expected = input.filter((e) => e.timeUs >= sinceUs && e.timeUs < untilUs);
    const { stderr } = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'range'),
      '--speed',
      'max',
      '--summary',
      'json',
      '--since',
      '2026-01-01T00:00:05Z',
      '--until',
      '2026-01-01T00:00:10.000000Z',
    );
    const output = await readAll(join(dir, 'range'));
    expect(expected.length).toBeGreaterThan(500);
    expect(output.map((e) => e.bytes.toString('hex'))).toEqual(
      expected.map((e) => e.bytes.toString('hex')),
    );
    expect(summaryOf(stderr)).toMatchObject({
      written: expected.length,
      outOfRange: 3016 - expected.length,
    });

    // Relative times count back from now: the whole synthetic year-old stream is before -1h.
    const relative = await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'none'),
      '--speed',
      'max',
      '--summary',
      'json',
      '--since',
      '-1h',
    );
    expect(summaryOf(relative.stderr)).toMatchObject({ written: 0, outOfRange: 3016 });
  });

  it('leaves chain gaps when filtering without rewriting, which verify reports', async () => {
    const verifier = new StreamVerifier();
    for (const e of await readAll(join(dir, 'filtered'))) verifier.add(e);
    expect(verifier.report().totals.missing).toBeGreaterThan(0);
  });

  it('rewrites times to now and restamps every agent stream so verify passes after a filter', async () => {
    const before = Date.now() * 1000;
    await pidstream(
      'replay',
      '--from',
      join(dir, 'in'),
      '--to',
      join(dir, 'live'),
      '--speed',
      'max',
      '--rewrite-time',
      'now',
      '--filter',
      'type != "exit" or class != "CLEAN"',
    );
    const after = Date.now() * 1000;
    const output = await readAll(join(dir, 'live'));
    const verifier = new StreamVerifier();
    for (const e of output) verifier.add(e);
    const report = verifier.report();
    expect(hasProblems(report, false)).toBe(false);
    expect(report.instances).toHaveLength(8);
    expect(report.instances.every((i) => i.firstSeq === 0 && i.lastSeq === i.events - 1)).toBe(
      true,
    );
    expect(output.every((e) => e.timeUs >= before && e.timeUs <= after)).toBe(true);

    // Each rewritten ProcessExit of a crash still points at its own Coredump's new seq.
    const records = output.map((e) => ({ name: e.name, r: decodeEvent(e.name, e.bytes) }));
    const cores = new Map(
      records
        .filter((x) => x.name === 'Coredump')
        .map((x) => [`${x.r.agent.instance_id}/${x.r.agent.seq}`, x.r]),
    );
    const crashed = records.filter((x) => x.r.classification === 'CRASHED').map((x) => x.r);
    expect(crashed.length).toBe(cores.size);
    for (const exit of crashed) {
      expect(cores.get(`${exit.agent.instance_id}/${exit.coredump_seq}`)?.process?.pid).toBe(
        exit.process?.pid,
      );
    }
  });

  it('passes `pidstream verify` on the synth stream and on its rewritten replay', async () => {
    for (const out of ['in', 'live']) {
      const { stdout } = await run('node', [
        distFile('cli/main.js'),
        'verify',
        '--from',
        join(dir, out),
      ]);
      expect(stdout).toMatch(
        /missing 0, duplicates 0, conflicts 0, reordered 0, altered 0, undecodable 0/,
      );
    }
  });
});
