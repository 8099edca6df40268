/**
 * `pidstream report NAME`: the built-in SRE reports (cli/query/reports.ts) over events loaded
 * into an embedded DuckDB. docs/query.md describes each report's columns.
 */
import { basename } from 'node:path';

import type { Command } from 'commander';

import { UsageError } from '../../common/errors.js';
import { parseDurationUs, positiveInteger } from '../replay/flags.js';
import { barsBeside, seriesChart } from '../query/chart.js';
import { addSourceOptions, windowFrom, type SourceFlags } from '../query/flags.js';
import { formatTable, rowWriter, textOf, type Format } from '../query/output.js';
import { barChartSvg, lineChartSvg, writePng } from '../query/png.js';
import { runReport, type ReportResult } from '../query/report-run.js';
import {
  byFor,
  parseReportName,
  REPORT_NAMES,
  REPORTS,
  type ReportName,
} from '../query/reports.js';
import { QuerySession } from '../query/session.js';

interface ReportFlags extends SourceFlags {
  format: Format;
  by?: string;
  limit: number;
  bucket?: number;
  png?: string;
}

/** Rows or series keys a report shows unless told otherwise. */
const DEFAULT_LIMIT = 20;
const MAX_LIMIT = 100_000;

export function registerReport(program: Command): void {
  const list = REPORT_NAMES.map((n) => `  ${n.padEnd(12)} ${REPORTS[n].description}`).join('\n');
  addSourceOptions(
    program
      .command('report')
      .description('built-in SRE reports over events')
      .argument('<name>', `one of: ${REPORT_NAMES.join(', ')}`)
      .addHelpText('after', `\nReports:\n${list}\n`),
  )
    .option('--by <key>', 'group by: exe, unit, host or cgroup (each report names its own)')
    .option('--limit <n>', 'rows, or series keys, shown', positiveInteger(MAX_LIMIT), DEFAULT_LIMIT)
    .option('--bucket <d>', 'bucket width of a time series (5m, 1h, 1d)', parseDurationUs)
    .option('--png <file>', 'also render the report as a PNG chart')
    .action(async (name: string, flags: ReportFlags) => {
      await runReportCommand(parseReportName(name), flags);
    });
}

async function runReportCommand(name: ReportName, flags: ReportFlags): Promise<void> {
  const by = byFor(name, flags.by);
  const window = windowFrom(flags);
  if (name === 'new-crashes' && window.sinceUs === null) {
    throw new UsageError(
      'new-crashes: give --since, the start of the window to find new signatures in',
    );
  }
  const loadWindow = REPORTS[name].windowedLoad ? window : { ...window, sinceUs: null };
  const reopened = flags.from.endsWith('.duckdb');

  const session = await QuerySession.open({
    from: flags.from,
    window: reopened ? { sinceUs: null, untilUs: null } : loadWindow,
    save: flags.save ?? null,
  });
  for (const note of session.notes()) process.stderr.write(`pidstream: ${note}\n`);
  try {
    const result = await runReport(session.connection, name, {
      ...window,
      by,
      limit: flags.limit,
      bucketUs: flags.bucket ?? null,
    });
    writeReport(result, flags.format);
    if (flags.png !== undefined) {
      await writePng(chartSvg(result), flags.png);
      process.stderr.write(`wrote ${flags.png}\n`);
    }
  } finally {
    session.close();
  }
}

function write(text: string): void {
  process.stdout.write(text);
}

function writeReport(result: ReportResult, format: Format): void {
  if (format === 'table' && result.series !== null) {
    write(seriesChart(result));
    return;
  }
  if (format === 'table') {
    const count = result.columns.findIndex((c) => c === 'crashes' || c === 'exits');
    const share = result.columns.indexOf('share');
    const cells = result.rows.map((row) =>
      row.map((v, i) =>
        i === share ? `${(Number(v) * 100).toFixed(1)}%` : (textOf(v, result.types[i]!) ?? 'NULL'),
      ),
    );
    const values = result.rows.map((row) => Number(row[count]));
    const right = result.columns.map((c) => ['crashes', 'hosts', 'exits', 'share'].includes(c));
    write(formatTable([...result.columns, ''], barsBeside(cells, values), right));
    write(`(${result.rows.length} row${result.rows.length === 1 ? '' : 's'})\n`);
    return;
  }
  const writer = rowWriter(format, result.columns, result.types, write);
  writer.rows(result.rows);
  writer.end();
}

function chartSvg(result: ReportResult): string {
  const title = `pidstream ${result.name}`;
  if (result.series !== null) {
    return lineChartSvg({
      title: `${title} by ${result.by}`,
      x: result.series.buckets,
      lines: result.series.lines.map((l) => ({ label: l.key ?? 'NULL', values: l.counts })),
      yLabel: result.name === 'oom-kills' ? 'OOM kills per bucket' : 'crashes per bucket',
    });
  }
  const column = (name: string): number => result.columns.indexOf(name);
  const count = result.columns.findIndex((c) => c === 'crashes' || c === 'exits');
  const bars = result.rows.map((row) => {
    const label =
      result.name === 'exit-mix'
        ? `${String(row[0])}: ${String(row[column('status')])}`
        : `${basename(String(row[column('exe')]))} ${String(row[column('signature')]).slice(0, 12)}`;
    return { label, value: Number(row[count]) };
  });
  return barChartSvg({
    title,
    bars,
    xLabel: result.name === 'exit-mix' ? 'exits' : 'crashes',
  });
}
