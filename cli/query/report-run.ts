/** Runs a built-in report on a loaded session and shapes its rows for output and charts. */
import type { DuckDBConnection, DuckDBType, DuckDBValue } from '@duckdb/node-api';

import {
  autoBucketUs,
  REPORTS,
  seriesBoundsSql,
  seriesReportSql,
  tableReportSql,
  type ByKey,
  type ReportName,
} from './reports.js';

export interface Series {
  key: string | null;
  counts: number[];
  total: number;
}

export interface ReportResult {
  name: ReportName;
  by: ByKey;
  columns: string[];
  types: DuckDBType[];
  rows: DuckDBValue[][];
  /** For series reports: the window, its buckets and one series per key. */
  series: {
    startUs: number;
    endUs: number;
    bucketUs: number;
    /** Start of each bucket, wall-clock microseconds. */
    buckets: number[];
    lines: Series[];
  } | null;
}

export interface RunParams {
  sinceUs: number | null;
  untilUs: number | null;
  by: ByKey;
  limit: number;
  /** Null: the report's default, or a width chosen from the window. */
  bucketUs: number | null;
}

export async function runReport(
  connection: DuckDBConnection,
  name: ReportName,
  params: RunParams,
): Promise<ReportResult> {
  const spec = REPORTS[name];
  if (spec.series === null) {
    const sql = tableReportSql(name, { ...params, bucketUs: 0 });
    const reader = await connection.runAndReadAll(sql);
    return {
      name,
      by: params.by,
      columns: reader.columnNames(),
      types: reader.columnTypes(),
      rows: reader.getRows(),
      series: null,
    };
  }

  const bounds = await connection.runAndReadAll(seriesBoundsSql(name, { ...params, bucketUs: 0 }));
  const [first, last] = bounds.getRows()[0] as [bigint | null, bigint | null];
  const startUs = params.sinceUs ?? (first === null ? null : Number(first));
  const endUs = params.untilUs ?? (last === null ? null : Number(last) + 1);
  const bucketUs =
    params.bucketUs ??
    spec.series.defaultBucketUs ??
    autoBucketUs(startUs === null || endUs === null ? 1 : endUs - startUs);
  // With nothing to count, the query still runs (with no keys) to give the columns.
  const empty = startUs === null || endUs === null;
  const sql = seriesReportSql(
    name,
    { ...params, bucketUs, limit: empty ? 0 : params.limit },
    startUs ?? 0,
    endUs ?? 1,
  );
  const reader = await connection.runAndReadAll(sql);
  const rows = reader.getRows();
  const lines: Series[] = [];
  const buckets: number[] = [];
  let current: Series | null = null;
  for (const row of rows) {
    const bucket = Number((row[0] as { micros: bigint }).micros);
    const key = row[1] === null ? null : String(row[1]);
    const count = Number(row[2] as bigint);
    if (current === null || current.key !== key) {
      current = { key, counts: [], total: 0 };
      lines.push(current);
    }
    if (lines.length === 1) buckets.push(bucket);
    current.counts.push(count);
    current.total += count;
  }
  return {
    name,
    by: params.by,
    columns: reader.columnNames(),
    types: reader.columnTypes(),
    rows,
    series: { startUs: startUs ?? 0, endUs: endUs ?? 0, bucketUs, buckets, lines },
  };
}
