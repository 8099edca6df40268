/**
 * Small charts for a terminal: one sparkline per series, all on one scale so rows compare, and
 * horizontal bars for counts.
 */
import { formatTable } from './output.js';
import type { ReportResult } from './report-run.js';

const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
/** Characters a sparkline may take; longer series merge neighbouring buckets. */
export const SPARKLINE_MAX_WIDTH = 96;
const BAR_WIDTH = 40;

/** Sums groups of `factor` neighbouring values. */
function merge(values: readonly number[], factor: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < values.length; i += factor) {
    out.push(values.slice(i, i + factor).reduce((a, b) => a + b, 0));
  }
  return out;
}

export function sparkline(values: readonly number[], max: number): string {
  return values
    .map((v) => {
      if (v === 0) return ' ';
      const level = Math.ceil((v / max) * BLOCKS.length) - 1;
      return BLOCKS[Math.min(BLOCKS.length - 1, Math.max(0, level))];
    })
    .join('');
}

export function bar(value: number, max: number, width = BAR_WIDTH): string {
  if (max <= 0 || value <= 0) return '';
  const cells = Math.max(1, Math.round((value / max) * width));
  return '█'.repeat(cells);
}

function timeText(us: number): string {
  return new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19);
}

function durationText(us: number): string {
  const minutes = us / 60_000_000;
  if (minutes < 1) return `${us / 1_000_000} s`;
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 1440) return `${minutes / 60} h`;
  return `${minutes / 1440} d`;
}

/** A series report as text: a header naming window and bucket, then one row per key. */
export function seriesChart(result: ReportResult): string {
  const series = result.series!;
  if (series.lines.length === 0) return `${result.name}: nothing in the window\n`;
  const factor = Math.ceil(series.buckets.length / SPARKLINE_MAX_WIDTH);
  const merged = series.lines.map((line) => merge(line.counts, factor));
  const max = Math.max(1, ...merged.flat());
  const rows = series.lines.map((line, i) => [
    line.key ?? 'NULL',
    String(line.total),
    String(Math.max(...line.counts)),
    sparkline(merged[i]!, max),
  ]);
  const per = factor > 1 ? `, ${factor} buckets per character` : '';
  const header =
    `${result.name} by ${result.by}, ${timeText(series.startUs)} → ${timeText(series.endUs)} UTC, ` +
    `${durationText(series.bucketUs)} buckets${per}, scale 0–${max}\n`;
  return (
    header + formatTable([result.by, 'total', 'peak', 'per bucket'], rows, [false, true, true])
  );
}

/** Bars beside a table's rows, for the count column `column`. */
export function barsBeside(rows: string[][], values: number[]): string[][] {
  const max = Math.max(0, ...values);
  return rows.map((row, i) => [...row, bar(values[i]!, max)]);
}
