/**
 * The built-in reports: the questions SREs ask again and again, as SQL over the query views.
 * deploy/analytics/reports.sql holds the same reports for ClickHouse; keep the two in step.
 *
 * A crash is a ProcessExit classified CRASHED (the kernel dumped core); crash signatures come
 * from Coredump events. Time windows are [since, until). Series reports are dense: every bucket
 * of the window appears for every key shown, with zero where nothing happened.
 */
import { UsageError } from '../../common/errors.js';

export const REPORT_NAMES = [
  'top-crashes',
  'crash-rate',
  'exit-mix',
  'oom-kills',
  'new-crashes',
] as const;
export type ReportName = (typeof REPORT_NAMES)[number];

/** What `--by` may name, and the column behind it. */
export const BY_COLUMNS = {
  exe: 'exe',
  unit: 'cgroup_unit',
  host: 'host',
  cgroup: 'cgroup_path',
  signature: 'signature',
} as const;
export type ByKey = keyof typeof BY_COLUMNS;

interface ReportSpec {
  description: string;
  /** `--by` choices, the first the default; empty when the report has a fixed key. */
  by: ByKey[];
  /** Series reports count events per key per time bucket. */
  series: { view: string; filter: string; defaultBucketUs: number | null } | null;
  /** Whether loading may skip events before `--since` (not when history matters). */
  windowedLoad: boolean;
}

const HOUR_US = 3_600_000_000;

export const REPORTS: Record<ReportName, ReportSpec> = {
  'top-crashes': {
    description: 'crash signatures by count, with exe, hosts, first and last seen',
    by: [],
    series: null,
    windowedLoad: true,
  },
  'crash-rate': {
    description: 'crashes per time bucket, per exe, unit or host',
    by: ['exe', 'unit', 'host'],
    series: { view: 'exits', filter: "classification = 'CRASHED'", defaultBucketUs: null },
    windowedLoad: true,
  },
  'exit-mix': {
    description: 'exit codes and signals per unit, exe, host or cgroup, with their share',
    by: ['unit', 'exe', 'host', 'cgroup'],
    series: null,
    windowedLoad: true,
  },
  'oom-kills': {
    description: 'OOM kills per cgroup (or unit, host) per hour',
    by: ['cgroup', 'unit', 'host'],
    series: { view: 'exits', filter: "classification = 'OOM_KILLED'", defaultBucketUs: HOUR_US },
    windowedLoad: true,
  },
  'new-crashes': {
    description: 'signatures first seen inside the window (needs --since)',
    by: [],
    series: null,
    windowedLoad: false,
  },
};

export interface ReportParams {
  sinceUs: number | null;
  untilUs: number | null;
  by: ByKey;
  /** Rows (or series keys) shown. */
  limit: number;
  bucketUs: number;
}

export function parseReportName(text: string): ReportName {
  if ((REPORT_NAMES as readonly string[]).includes(text)) return text as ReportName;
  throw new UsageError(`report: '${text}' is not a report; expected ${REPORT_NAMES.join(', ')}`);
}

export function byFor(name: ReportName, text: string | undefined): ByKey {
  const allowed = REPORTS[name].by;
  if (text === undefined) return allowed[0] ?? 'signature';
  if (!(allowed as string[]).includes(text)) {
    const expected = allowed.length === 0 ? 'nothing: it has a fixed key' : allowed.join(', ');
    throw new UsageError(`--by: ${name} cannot be grouped by '${text}'; expected ${expected}`);
  }
  return text as ByKey;
}

export function timestampSql(us: number): string {
  return `make_timestamp(${Math.trunc(us)}::BIGINT)`;
}

function windowSql(params: ReportParams, column = 'time'): string {
  const parts: string[] = [];
  if (params.sinceUs !== null) parts.push(`${column} >= ${timestampSql(params.sinceUs)}`);
  if (params.untilUs !== null) parts.push(`${column} < ${timestampSql(params.untilUs)}`);
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}

/** The SQL of a report that is not a series. */
export function tableReportSql(name: ReportName, params: ReportParams): string {
  const window = windowSql(params);
  switch (name) {
    case 'top-crashes':
      return `SELECT signature, min(exe) AS exe, count(*) AS crashes,
  count(DISTINCT host) AS hosts, min(time) AS first_seen, max(time) AS last_seen
FROM coredumps WHERE ${window}
GROUP BY signature ORDER BY crashes DESC, signature NULLS LAST LIMIT ${params.limit}`;
    case 'exit-mix': {
      const key = BY_COLUMNS[params.by];
      return `WITH mix AS (
  SELECT ${key} AS key,
    CASE WHEN signal IS NOT NULL THEN coalesce(signal_name, 'signal ' || signal)
         WHEN exit_code IS NOT NULL THEN 'exit ' || exit_code
         ELSE 'unknown' END AS status,
    classification
  FROM exits WHERE ${window}),
keys AS (SELECT key, count(*) AS total FROM mix GROUP BY key
  ORDER BY total DESC, key NULLS LAST LIMIT ${params.limit})
SELECT k.key AS ${params.by}, m.status, m.classification, count(*) AS exits,
  count(*) / any_value(k.total) AS share
FROM mix m JOIN keys k ON m.key IS NOT DISTINCT FROM k.key
GROUP BY k.key, m.status, m.classification
ORDER BY any_value(k.total) DESC, k.key NULLS LAST, exits DESC, m.status`;
    }
    case 'new-crashes':
      return `WITH firsts AS (
  SELECT signature, min(time) AS first_seen FROM coredumps
  WHERE signature IS NOT NULL AND ${windowSql({ ...params, sinceUs: null })} GROUP BY signature)
SELECT c.signature, min(c.exe) AS exe, f.first_seen, max(c.time) AS last_seen,
  count(*) AS crashes, count(DISTINCT c.host) AS hosts
FROM coredumps c JOIN firsts f ON c.signature = f.signature
WHERE ${windowSql(params, 'f.first_seen')} AND ${windowSql(params, 'c.time')}
GROUP BY c.signature, f.first_seen ORDER BY f.first_seen, c.signature LIMIT ${params.limit}`;
    default:
      throw new Error(`${name} is a series report`);
  }
}

/** SQL giving the first and last event time a series report counts, to place its buckets. */
export function seriesBoundsSql(name: ReportName, params: ReportParams): string {
  const series = REPORTS[name].series!;
  return `SELECT epoch_us(min(time)), epoch_us(max(time)) FROM ${series.view}
WHERE ${series.filter} AND ${windowSql(params)}`;
}

/**
 * SQL of a series report over [startUs, endUs): rows of (bucket, key, count) for the `limit`
 * keys with the most events, every bucket present.
 */
export function seriesReportSql(
  name: ReportName,
  params: ReportParams,
  startUs: number,
  endUs: number,
): string {
  const series = REPORTS[name].series!;
  const key = BY_COLUMNS[params.by];
  const count = name === 'oom-kills' ? 'kills' : 'crashes';
  const bucket = `to_microseconds(${Math.trunc(params.bucketUs)}::BIGINT)`;
  return `WITH w AS (
  SELECT time_bucket(${bucket}, time) AS bucket, ${key} AS key FROM ${series.view}
  WHERE ${series.filter} AND ${windowSql(params)}),
keys AS (SELECT key, count(*) AS total FROM w GROUP BY key
  ORDER BY total DESC, key NULLS LAST LIMIT ${params.limit}),
buckets AS (SELECT unnest(generate_series(time_bucket(${bucket}, ${timestampSql(startUs)}),
  time_bucket(${bucket}, ${timestampSql(endUs - 1)}), ${bucket})) AS bucket),
counts AS (SELECT bucket, key, count(*) AS n FROM w GROUP BY ALL)
SELECT b.bucket, k.key AS ${params.by}, coalesce(c.n, 0) AS ${count}
FROM keys k CROSS JOIN buckets b
LEFT JOIN counts c ON c.bucket = b.bucket AND c.key IS NOT DISTINCT FROM k.key
ORDER BY k.total DESC, k.key NULLS LAST, b.bucket`;
}

/** Bucket widths a series picks from when `--bucket` is not given. */
const NICE_BUCKETS_US = [1, 5, 15, 60, 180, 360, 720, 1440, 10_080].map((m) => m * 60_000_000);
/** Buckets a series aims to stay under, for a chart that reads at a glance. */
export const TARGET_BUCKETS = 48;

export function autoBucketUs(spanUs: number): number {
  for (const bucket of NICE_BUCKETS_US) if (spanUs / bucket <= TARGET_BUCKETS) return bucket;
  return NICE_BUCKETS_US[NICE_BUCKETS_US.length - 1]!;
}
