/**
 * `--export parquet DIR` writes every view as a Parquet file that reads back with the same rows,
 * and `--save FILE.duckdb` keeps a database that `--from FILE.duckdb` answers from.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeAll, writeDataset, type Decoded } from '../bench/query/dataset.js';
import { runCli } from './support/cli.js';

let dir: string;
let decoded: Decoded[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-query-export-'));
  const events = await writeDataset(join(dir, 'avro'), {
    seed: 'query-export',
    hosts: 3,
    count: 1500,
    rate: 20,
    startUs: Date.UTC(2026, 0, 1) * 1000,
  });
  decoded = decodeAll(events);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function count(name: Decoded['name']): number {
  return decoded.filter((e) => e.name === name).length;
}

describe('pidstream query export and save', () => {
  it('writes each view as Parquet that DuckDB reads back row for row', async () => {
    const out = join(dir, 'parquet');
    const result = await runCli(['query', '--from', join(dir, 'avro'), '--export', 'parquet', out]);
    expect(result.code).toBe(0);

    const db = await DuckDBInstance.create(':memory:');
    const connection = await db.connect();
    try {
      const read = async (sql: string) => (await connection.runAndReadAll(sql)).getRowsJson();
      const counts = await read(
        `SELECT (SELECT count(*) FROM read_parquet('${out}/exits.parquet')),
                (SELECT count(*) FROM read_parquet('${out}/coredumps.parquet')),
                (SELECT count(*) FROM read_parquet('${out}/agent_events.parquet'))`,
      );
      expect(counts).toEqual([
        [String(count('ProcessExit')), String(count('Coredump')), String(count('AgentEvent'))],
      ]);

      const crashes = decoded.filter((e) => e.name === 'Coredump').map((e) => e.record);
      const first = crashes.reduce((a, b) => ((a.time as number) <= (b.time as number) ? a : b));
      const [row] = await read(
        `SELECT signature, exe, backtrace[1].offset, argv, epoch_us(time)
         FROM read_parquet('${out}/coredumps.parquet') ORDER BY time LIMIT 1`,
      );
      const frames = first.backtrace as { offset: number }[];
      expect(row).toEqual([
        first.signature,
        first.exe,
        String(frames[0]!.offset),
        first.argv,
        String(first.time),
      ]);
    } finally {
      connection.closeSync();
      db.closeSync();
    }
  });

  it('saves a database that later queries open without the source', async () => {
    const saved = join(dir, 'events.duckdb');
    const save = await runCli(['query', '--from', join(dir, 'avro'), '--save', saved]);
    expect(save.stderr).toBe('');
    expect(save.code).toBe(0);

    rmSync(join(dir, 'avro'), { recursive: true, force: true });
    const result = await runCli([
      'query',
      '--from',
      saved,
      '--format',
      'csv',
      'SELECT (SELECT count(*) FROM exits) AS exits, (SELECT count(*) FROM coredumps) AS cores',
    ]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`exits,cores\n${count('ProcessExit')},${count('Coredump')}\n`);
  });
});
