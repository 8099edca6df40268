/**
 * `npm run bench:query`: how fast `pidstream query` loads events into DuckDB and answers
 * `top-crashes`, over a cached synthetic dataset (10 million events unless
 * BENCH_QUERY_EVENTS says otherwise). The baseline, measured in the same run on the same
 * events, is DuckDB reading them back from Parquet with read_parquet: the rate of DuckDB's own
 * columnar reader, which no loader fed from JavaScript can beat.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';

import { DuckDBInstance } from '@duckdb/node-api';

import { formatTable } from '../../cli/query/output.js';
import { runReport } from '../../cli/query/report-run.js';
import { loadEvents } from '../../cli/query/load.js';
import { packageRoot } from '../../common/paths.js';
import { cachedDataset } from './cache.js';

const EVENTS = Number(process.env.BENCH_QUERY_EVENTS ?? 10_000_000);
const LOAD_TARGET = 500_000;
const REPORT_TARGET_MS = 1000;
/** Report runs; the median is shown. */
const REPORT_RUNS = 5;
const VIEWS = ['exits', 'coredumps', 'agent_events'];

/** CPU seconds this process (JavaScript and DuckDB's threads) spent since `start`. */
function cpuSeconds(start: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1e6;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const cacheDir = join(packageRoot(), '.cache', 'bench-query');
  process.stderr.write(`preparing ${EVENTS} events in ${cacheDir} (once)…\n`);
  const dataset = await cachedDataset(cacheDir, EVENTS);
  const load = loadavg()
    .map((l) => l.toFixed(1))
    .join(' ');

  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  const started = performance.now();
  const startCpu = process.cpuUsage();
  const stats = await loadEvents(instance, connection, { files: dataset.dir });
  const loadMs = performance.now() - started;
  const loadRate = stats.events / (loadMs / 1000);
  const loadCpuRate = stats.events / cpuSeconds(startCpu);
  process.stderr.write(`loaded ${stats.events} events in ${(loadMs / 1000).toFixed(1)} s\n`);

  const reportMs: number[] = [];
  for (let i = 0; i < REPORT_RUNS; i++) {
    const t = performance.now();
    await runReport(connection, 'top-crashes', {
      sinceUs: null,
      untilUs: null,
      by: 'signature',
      limit: 20,
      bucketUs: null,
    });
    reportMs.push(performance.now() - t);
  }
  const rateMs: number[] = [];
  for (let i = 0; i < REPORT_RUNS; i++) {
    const t = performance.now();
    await runReport(connection, 'crash-rate', {
      sinceUs: null,
      untilUs: null,
      by: 'exe',
      limit: 10,
      bucketUs: null,
    });
    rateMs.push(performance.now() - t);
  }

  // Baseline: the same rows written as Parquet, then read back by DuckDB's own reader.
  const parquetDir = join(cacheDir, 'parquet');
  rmSync(parquetDir, { recursive: true, force: true });
  mkdirSync(parquetDir, { recursive: true });
  for (const view of VIEWS) {
    await connection.run(
      `COPY ${view} TO '${join(parquetDir, `${view}.parquet`)}' (FORMAT parquet)`,
    );
  }
  const baselineDb = await DuckDBInstance.create(':memory:');
  const baseline = await baselineDb.connect();
  const parquetStarted = performance.now();
  const parquetCpu = process.cpuUsage();
  for (const view of VIEWS) {
    await baseline.run(
      `CREATE TABLE ${view} AS SELECT * FROM read_parquet('${join(parquetDir, `${view}.parquet`)}')`,
    );
  }
  const parquetMs = performance.now() - parquetStarted;
  const parquetRate = stats.events / (parquetMs / 1000);
  const parquetCpuRate = stats.events / cpuSeconds(parquetCpu);
  baseline.closeSync();
  baselineDb.closeSync();
  connection.closeSync();
  instance.closeSync();

  const count = (n: number): string => Math.round(n).toLocaleString('en');
  const rows = [
    [
      'load Avro files → DuckDB',
      `${count(loadRate)} events/s`,
      `${count(loadCpuRate)} events/CPU-s`,
      `≥ ${count(LOAD_TARGET)} events/s`,
      `${(loadRate / parquetRate).toFixed(2)}× (CPU ${(loadCpuRate / parquetCpuRate).toFixed(2)}×)`,
    ],
    [
      'baseline: read_parquet → DuckDB',
      `${count(parquetRate)} events/s`,
      `${count(parquetCpuRate)} events/CPU-s`,
      '',
      '1.00×',
    ],
    [
      'top-crashes (median)',
      `${median(reportMs).toFixed(0)} ms`,
      '',
      `< ${REPORT_TARGET_MS} ms`,
      '',
    ],
    ['crash-rate by exe (median)', `${median(rateMs).toFixed(0)} ms`, '', '', ''],
  ];
  process.stdout.write(
    `pidstream query: ${stats.events.toLocaleString('en')} events ` +
      `(${VIEWS.map((v) => `${v} ${stats.perView[v]}`).join(', ')}), load average ${load}\n`,
  );
  process.stdout.write(
    formatTable(['measure', 'wall clock', 'per CPU second', 'target', 'vs baseline'], rows),
  );
}

await main();
