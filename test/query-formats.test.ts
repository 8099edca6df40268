/**
 * `pidstream query` prints exactly the values the events hold, as CSV and as JSON lines, for a
 * fixed-seed `pidstream synth` fleet written to Avro files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeAll, writeDataset, type Decoded } from '../bench/query/dataset.js';
import { runCli } from './support/cli.js';

const START_US = Date.UTC(2026, 0, 1) * 1000;
const ROWS = 60;

let dir: string;
let exits: Record<string, unknown>[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-query-formats-'));
  const events = await writeDataset(join(dir, 'avro'), {
    seed: 'query-formats',
    hosts: 4,
    count: 3000,
    rate: 50,
    startUs: START_US,
  });
  exits = decodeAll(events)
    .filter((e: Decoded) => e.name === 'ProcessExit')
    .map((e) => e.record);
  const agent = (r: Record<string, unknown>) => r.agent as { host: string; seq: number };
  exits.sort((a, b) =>
    agent(a).host === agent(b).host
      ? agent(a).seq - agent(b).seq
      : agent(a).host < agent(b).host
        ? -1
        : 1,
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** DuckDB's text of a TIMESTAMP: seconds, then the fraction without trailing zeros. */
function duckTimestamp(us: number): string {
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ');
  const fraction = String(us % 1_000_000)
    .padStart(6, '0')
    .replace(/0+$/, '');
  return fraction === '' ? base : `${base}.${fraction}`;
}

function isoMicros(us: number): string {
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19);
  return `${base}.${String(us % 1_000_000).padStart(6, '0')}Z`;
}

function csv(value: string | number | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

const SQL =
  'SELECT host, seq, time, exe, argv, exit_code, signal_name, classification, cgroup_unit ' +
  `FROM exits ORDER BY host, seq LIMIT ${ROWS}`;

describe('pidstream query output formats', () => {
  it('prints CSV with a header and every value as the event holds it', async () => {
    const result = await runCli(['query', '--from', join(dir, 'avro'), '--format', 'csv', SQL]);

    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const expected = exits.slice(0, ROWS).map((r) => {
      const stamp = r.agent as { host: string; seq: number };
      const cgroup = r.cgroup as { unit: string | null };
      return [
        csv(stamp.host),
        csv(stamp.seq),
        csv(duckTimestamp(r.time as number)),
        csv(r.exe as string | null),
        csv(JSON.stringify(r.argv)),
        csv(r.exit_code as number | null),
        csv(r.signal_name as string | null),
        csv(r.classification as string),
        csv(cgroup.unit),
      ].join(',');
    });
    const header = 'host,seq,time,exe,argv,exit_code,signal_name,classification,cgroup_unit';
    expect(result.stdout).toBe([header, ...expected].join('\n') + '\n');
  });

  it('prints JSON lines with numbers, ISO-8601 UTC times, arrays and nulls', async () => {
    const result = await runCli(['query', '--from', join(dir, 'avro'), '--format', 'json', SQL]);

    expect(result.code).toBe(0);
    const lines = result.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    const expected = exits.slice(0, ROWS).map((r) => {
      const stamp = r.agent as { host: string; seq: number };
      return {
        host: stamp.host,
        seq: stamp.seq,
        time: isoMicros(r.time as number),
        exe: r.exe,
        argv: r.argv,
        exit_code: r.exit_code,
        signal_name: r.signal_name,
        classification: r.classification,
        cgroup_unit: (r.cgroup as { unit: string | null }).unit,
      };
    });
    expect(lines).toEqual(expected);
  });

  it('counts every exit of the stream, by classification', async () => {
    const result = await runCli([
      'query',
      '--from',
      join(dir, 'avro'),
      '--format',
      'csv',
      'SELECT classification, count(*) AS n FROM exits GROUP BY ALL ORDER BY classification',
    ]);

    const counts = new Map<string, number>();
    for (const r of exits) {
      const c = r.classification as string;
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    const order = ['CLEAN', 'ERROR', 'KILLED', 'CRASHED', 'OOM_KILLED', 'UNKNOWN'];
    const expected = order.filter((c) => counts.has(c)).map((c) => `${c},${counts.get(c)}`);
    expect(result.stdout).toBe(['classification,n', ...expected].join('\n') + '\n');
  });
});
