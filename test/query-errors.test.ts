/** Bad SQL is answered with DuckDB's own message and the views and columns there are, exit 2. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeDataset } from '../bench/query/dataset.js';
import { runCli } from './support/cli.js';

let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-query-errors-'));
  await writeDataset(join(dir, 'avro'), {
    seed: 'query-errors',
    hosts: 2,
    count: 200,
    rate: 10,
    startUs: Date.UTC(2026, 0, 1) * 1000,
  });
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('pidstream query with bad SQL', () => {
  it('names the unknown column, lists the views with their columns, and exits 2', async () => {
    const result = await runCli([
      'query',
      '--from',
      join(dir, 'avro'),
      'SELECT exit_kode FROM exits',
    ]);

    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('Binder Error: Referenced column "exit_kode" not found');
    expect(result.stderr).toContain('available views and their columns:');
    expect(result.stderr).toContain(
      '  exits: host VARCHAR, boot_id UUID, instance_id UUID, seq BIGINT, time TIMESTAMP,',
    );
    expect(result.stderr).toContain('argv VARCHAR[]');
    expect(result.stderr).toMatch(/\n {2}coredumps: host VARCHAR, .*signature VARCHAR/);
    expect(result.stderr).toMatch(
      /\n {2}agent_events: host VARCHAR, .*attributes MAP\(VARCHAR, VARCHAR\)/,
    );
  });

  it('passes a syntax error through with its position, and exits 2', async () => {
    const result = await runCli(['query', '--from', join(dir, 'avro'), 'SELEC 1']);

    expect(result.code).toBe(2);
    expect(result.stderr).toContain('Parser Error: syntax error at or near "SELEC"');
    expect(result.stderr).toContain('  exits: host VARCHAR');
  });

  it('refuses a report name it does not know, naming the reports, with exit 2', async () => {
    const result = await runCli(['report', 'top-crash', '--from', join(dir, 'avro')]);

    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      "pidstream: report: 'top-crash' is not a report; expected top-crashes, crash-rate, " +
        'exit-mix, oom-kills, new-crashes\n',
    );
  });
});
