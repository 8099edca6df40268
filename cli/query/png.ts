/**
 * Report charts as PNG, for tickets and postmortems: an SVG drawn here (a line per series, or
 * horizontal bars) rendered by resvg with the system's fonts. Drawing the few shapes by hand
 * keeps the output stable and needs no browser or canvas.
 */
import { writeFile } from 'node:fs/promises';

import { Resvg } from '@resvg/resvg-js';

import { PidstreamError } from '../../common/errors.js';

const WIDTH = 1000;
const HEIGHT = 520;
const MARGIN = { left: 70, right: 260, top: 50, bottom: 60 };
const PALETTE = [
  '#1f77b4',
  '#d62728',
  '#2ca02c',
  '#ff7f0e',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
  '#17becf',
];
/** Characters of a label before it is shortened with an ellipsis. */
const LABEL_MAX = 34;
const FONT = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"';

export interface LineChart {
  title: string;
  /** Start of each bucket, wall-clock microseconds. */
  x: number[];
  lines: { label: string; values: number[] }[];
  yLabel: string;
}

export interface BarChart {
  title: string;
  bars: { label: string; value: number }[];
  xLabel: string;
}

function escape(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');
}

function shorten(text: string): string {
  return text.length > LABEL_MAX ? `…${text.slice(text.length - LABEL_MAX + 1)}` : text;
}

function timeLabel(us: number): string {
  return new Date(us / 1000).toISOString().replace('T', ' ').slice(0, 19);
}

/** Round tick values from 0 to at least `max`; counts are whole, so steps are too. */
function ticks(max: number): number[] {
  const raw = Math.max(1, max) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = Math.max(
    1,
    [1, 2, 5, 10].map((m) => m * magnitude).find((s) => s >= raw)!,
  );
  const out: number[] = [];
  for (let v = 0; v < max + step; v += step) out.push(v);
  return out;
}

function frame(title: string, body: string): string {
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}">` +
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>` +
    `<text x="${WIDTH / 2}" y="28" text-anchor="middle" font-size="18" ${FONT}>${escape(title)}</text>` +
    `${body}</svg>`
  );
}

export function lineChartSvg(chart: LineChart): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const max = Math.max(1, ...chart.lines.flatMap((l) => l.values));
  const yTicks = ticks(max);
  const top = yTicks[yTicks.length - 1]!;
  const n = Math.max(1, chart.x.length - 1);
  const px = (i: number): number => MARGIN.left + (i / n) * plotW;
  const py = (v: number): number => MARGIN.top + plotH - (v / top) * plotH;
  const parts: string[] = [];
  for (const t of yTicks) {
    parts.push(
      `<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`,
      `<text x="${MARGIN.left - 8}" y="${py(t) + 4}" text-anchor="end" font-size="12" ${FONT}>${t}</text>`,
    );
  }
  const xTickCount = Math.min(5, chart.x.length);
  for (let k = 0; k < xTickCount; k++) {
    const i = xTickCount === 1 ? 0 : Math.round((k / (xTickCount - 1)) * (chart.x.length - 1));
    parts.push(
      `<text x="${px(i)}" y="${MARGIN.top + plotH + 20}" text-anchor="middle" font-size="11" ${FONT}>` +
        `${timeLabel(chart.x[i]!)}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle" font-size="13" ${FONT}>${escape(chart.yLabel)}</text>`,
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle" font-size="12" ${FONT}>time (UTC)</text>`,
  );
  chart.lines.forEach((line, k) => {
    const colour = PALETTE[k % PALETTE.length]!;
    const points = line.values.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${colour}" stroke-width="2"/>`);
    const ly = MARGIN.top + 10 + k * 20;
    const lx = MARGIN.left + plotW + 16;
    parts.push(
      `<rect x="${lx}" y="${ly - 9}" width="14" height="4" fill="${colour}"/>`,
      `<text x="${lx + 20}" y="${ly}" font-size="12" ${FONT}>${escape(shorten(line.label))}</text>`,
    );
  });
  return frame(chart.title, parts.join(''));
}

export function barChartSvg(chart: BarChart): string {
  const left = 300;
  const plotW = WIDTH - left - 80;
  const rowH = Math.min(36, (HEIGHT - MARGIN.top - MARGIN.bottom) / Math.max(1, chart.bars.length));
  const max = Math.max(1, ...chart.bars.map((b) => b.value));
  const parts: string[] = [];
  if (chart.bars.length === 0) {
    parts.push(
      `<text x="${WIDTH / 2}" y="${HEIGHT / 2}" text-anchor="middle" font-size="16" ${FONT}>nothing in the window</text>`,
    );
  }
  chart.bars.forEach((b, k) => {
    const y = MARGIN.top + k * rowH;
    const w = (b.value / max) * plotW;
    parts.push(
      `<text x="${left - 8}" y="${y + rowH * 0.65}" text-anchor="end" font-size="12" ${FONT}>${escape(shorten(b.label))}</text>`,
      `<rect x="${left}" y="${y + rowH * 0.15}" width="${w.toFixed(1)}" height="${(rowH * 0.7).toFixed(1)}" fill="${PALETTE[0]}"/>`,
      `<text x="${left + w + 6}" y="${y + rowH * 0.65}" font-size="12" ${FONT}>${b.value}</text>`,
    );
  });
  parts.push(
    `<text x="${left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle" font-size="12" ${FONT}>${escape(chart.xLabel)}</text>`,
  );
  return frame(chart.title, parts.join(''));
}

export async function writePng(svg: string, file: string): Promise<void> {
  let png: Buffer;
  try {
    png = new Resvg(svg, { font: { loadSystemFonts: true } }).render().asPng();
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_SINK',
      `rendering the chart for ${file}: ${String(err)}`,
      {
        cause: err,
      },
    );
  }
  await writeFile(file, png);
}
