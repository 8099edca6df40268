/**
 * How fast the agent's /metrics endpoint answers while the agent runs at full process churn.
 * Baseline: the same scrapes of the same agent while the host is quiet, measured in the same
 * run, so the ratio holds on a busy machine.
 *
 *   npm run bench:metrics [-- CHURN_PROCESSES]
 *
 * The endpoint answers from its own thread; "stale" counts scrapes served the previous
 * rendering because the agent's loop did not render a fresh one within 25 ms.
 *
 * The churn is bench/exits/churn.c (two workers forking and reaping at full speed), built
 * here with gcc.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { distFile, packageRoot } from '../common/paths.js';

const SCRAPE_INTERVAL_MS = 50;
const BASELINE_MS = 10_000;
const CHURN_PROCESSES = Number(process.argv[2] ?? 120_000);
const CHURN_WORKERS = 2;
/** The target the endpoint must meet at full churn. */
const TARGET_P99_MS = 50;

interface Phase {
  name: string;
  latencies: number[];
  /** Scrapes answered with the previous rendering because the agent's loop was busy. */
  stale: number;
  seconds: number;
}

interface Scrapes {
  latencies: number[];
  stale: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function scrapeWhile(url: string, busy: () => boolean): Promise<Scrapes> {
  const latencies: number[] = [];
  let stale = 0;
  while (busy()) {
    const t0 = performance.now();
    const res = await fetch(`${url}/metrics`);
    await res.text();
    latencies.push(performance.now() - t0);
    // Renderings happen only on request, so a previous one is at least an interval old.
    if (Number(res.headers.get('x-pidstream-metrics-age-ms')) >= SCRAPE_INTERVAL_MS) stale++;
    await sleep(SCRAPE_INTERVAL_MS);
  }
  return { latencies, stale };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'pidstream-bench-metrics-'));
  const churnBin = join(work, 'churn');
  execFileSync('gcc', ['-O2', '-o', churnBin, join(packageRoot(), 'bench/exits/churn.c')]);

  const agent = spawn(
    process.execPath,
    [
      distFile('cli/main.js'),
      'run',
      '--out',
      join(work, 'out'),
      '--no-status',
      '--no-coredumps',
      '--metrics',
      '127.0.0.1:0',
      '--control-socket',
      join(work, 'control.sock'),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  agent.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  let url: string | undefined;
  while (url === undefined) {
    url = /"url":"(http:[^"]+)","msg":"metrics endpoint listening"/.exec(log)?.[1];
    if (agent.exitCode !== null) throw new Error(`the agent exited: ${log}`);
    await sleep(20);
  }

  try {
    const phases: Phase[] = [];
    const quietUntil = Date.now() + BASELINE_MS;
    phases.push({
      name: 'agent, quiet host (baseline)',
      ...(await scrapeWhile(url, () => Date.now() < quietUntil)),
      seconds: BASELINE_MS / 1000,
    });

    const t0 = Date.now();
    const churn = spawn(churnBin, [String(CHURN_PROCESSES), String(CHURN_WORKERS)], {
      stdio: 'ignore',
    });
    let churning = true;
    churn.on('exit', () => (churning = false));
    const scrapes = await scrapeWhile(url, () => churning);
    phases.push({
      name: `agent, full churn (${CHURN_PROCESSES} processes)`,
      ...scrapes,
      seconds: (Date.now() - t0) / 1000,
    });
    report(phases);
  } finally {
    agent.kill('SIGTERM');
    await new Promise((resolve) => agent.on('exit', resolve));
    rmSync(work, { recursive: true, force: true });
  }
}

function report(phases: Phase[]): void {
  const rows = phases.map((p) => {
    const sorted = [...p.latencies].sort((a, b) => a - b);
    return {
      phase: p,
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      max: sorted.at(-1) ?? NaN,
    };
  });
  const base = rows[0] as (typeof rows)[number];
  console.log(
    '| phase | scrapes | stale | p50 ms | p99 ms | max ms | p99 / baseline | churn exits/s |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const rate = r === base ? '-' : Math.round(CHURN_PROCESSES / r.phase.seconds).toString();
    console.log(
      `| ${r.phase.name} | ${r.phase.latencies.length} | ${r.phase.stale} | ${r.p50.toFixed(2)} | ` +
        `${r.p99.toFixed(2)} | ${r.max.toFixed(2)} | ${(r.p99 / base.p99).toFixed(1)}x | ${rate} |`,
    );
  }
  const churn = rows[1] as (typeof rows)[number];
  const verdict = churn.p99 <= TARGET_P99_MS ? 'meets' : 'misses';
  console.log(
    `\np99 at full churn: ${churn.p99.toFixed(2)} ms, ${verdict} the ${TARGET_P99_MS} ms target`,
  );
}

await main();
