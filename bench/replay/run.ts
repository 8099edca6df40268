/**
 * `npm run bench:replay`: replay's throughput at --speed max, file → file and file → Kafka,
 * each against a baseline measured in the same run on the same data, and its pacing error at
 * --speed 1 against a naive pacer (one relative setTimeout per event) on the same stream.
 *
 * Baselines:
 *   - copy: AvroFileSource → sink, batches of BATCH_CAP, nothing else (no stamp decoding, no
 *     pacing machinery): the ceiling the source and sink allow;
 *   - Kafka's own ProducerPerformance tool (from the jars scripts/kafka fetches), same record
 *     count and size, acks=all: what the broker takes from a Java producer.
 *
 * Environment: PIDSTREAM_BENCH_EVENTS (default 200000), PIDSTREAM_BENCH_PACED (default 2000),
 * PIDSTREAM_BENCH_DIR (default the system temp directory; the file sink fsyncs each block, so
 * the disk under it matters).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

import { Kafka, logLevel } from 'kafkajs';

import { openReplaySink, openReplaySource } from '../../cli/replay/ends.js';
import { BATCH_CAP, nowUs, PENDING_EVENTS_CAP } from '../../cli/replay/emitter.js';
import { compileFilter } from '../../cli/replay/filter.js';
import { replay, ReplaySummary } from '../../cli/replay/replay.js';
import { FleetGenerator } from '../../cli/synth/generator.js';
import { synthesise } from '../../cli/synth/synthesise.js';
import { packageRoot } from '../../common/paths.js';
import type { StampedEvent } from '../../ingest/sequencer.js';
import { AvroFileSource } from '../../streams/avro-file-source.js';
import type { KafkaTransportName } from '../../streams/kafka-transport.js';

const EVENTS = Number(process.env.PIDSTREAM_BENCH_EVENTS ?? 200_000);
const PACED = Number(process.env.PIDSTREAM_BENCH_PACED ?? 2000);
const PACED_RATE = 500;
const START_US = Date.UTC(2026, 0, 1) * 1000;

interface Row {
  what: string;
  events: number;
  seconds: number;
  note?: string;
}

const never = new AbortController().signal;

async function synthTo(dir: string, count: number, rate: number, hosts: number): Promise<void> {
  const generator = new FleetGenerator({
    seed: 'bench',
    hosts,
    rate,
    startUs: START_US,
    count,
    durationUs: null,
    signatures: 200,
    zipfExponent: 1.1,
    crashLoops: null,
    badDeploys: null,
  });
  const end = { startUs: null, endUs: null, total: null };
  const sink = await openReplaySink(dir);
  await synthesise(generator, sink, { speed: Infinity, signal: never, progress: null, end });
}

/**
 * The baseline: read and write, nothing between, with the sink replay uses. Writes overlap
 * reads as in replay, up to the same cap of pending events. Every block is compressed anew.
 */
async function copy(from: string, to: string): Promise<Row> {
  const source = new AvroFileSource(from);
  const sink = await openReplaySink(to);
  const started = performance.now();
  const pending: Promise<void>[] = [];
  let batch: StampedEvent[] = [];
  let events = 0;
  for await (const e of source.events()) {
    batch.push({ name: e.name, seq: events++, bytes: e.bytes });
    if (batch.length >= BATCH_CAP) {
      pending.push(sink.write(batch));
      batch = [];
      if (pending.length * BATCH_CAP > PENDING_EVENTS_CAP) await pending.shift();
    }
  }
  pending.push(sink.write(batch));
  await Promise.all(pending);
  await sink.close();
  const seconds = (performance.now() - started) / 1000;
  return { what: `copy (baseline) → ${kind(to)}`, events, seconds };
}

/** The disk's own copy of the same files, synced: what a replay that changes nothing nears. */
function cpFiles(from: string, to: string, events: number): Row {
  const started = performance.now();
  execFileSync('cp', ['-r', from, to]);
  execFileSync('sync', ['-f', to]);
  return {
    what: 'cp -r + sync (baseline) → files',
    events,
    seconds: (performance.now() - started) / 1000,
  };
}

async function replayMax(
  from: string,
  to: string,
  how: { rewrite?: boolean; filter?: string; transport?: KafkaTransportName } = {},
): Promise<Row> {
  const started = performance.now();
  const summary = await replayOnce(
    from,
    to,
    Infinity,
    how.rewrite ?? false,
    how.filter,
    how.transport,
  );
  const flags = [
    how.filter === undefined ? '' : ` --filter '${how.filter}'`,
    how.rewrite === true ? ' --rewrite-time now' : '',
    how.transport === undefined ? '' : ` --kafka-transport ${how.transport}`,
  ].join('');
  return {
    what: `replay --speed max${flags} → ${kind(to)}`,
    events: summary.written,
    seconds: (performance.now() - started) / 1000,
    note: how.filter === undefined ? undefined : `${summary.read} read`,
  };
}

async function replayOnce(
  from: string,
  to: string,
  speed: number,
  rewrite: boolean,
  filter?: string,
  transport?: KafkaTransportName,
): Promise<ReplaySummary> {
  const source = await openReplaySource(from, { since: null, until: null });
  const sink = await openReplaySink(to, transport);
  return replay(source, sink, {
    speed,
    since: null,
    until: null,
    filter: filter === undefined ? null : compileFilter(filter),
    rewriteTime: rewrite,
    restamp: false,
    signal: never,
    progress: null,
  });
}

function kind(uri: string): string {
  return uri.startsWith('kafka://') ? 'Kafka' : 'files';
}

/** Kafka's ProducerPerformance with the same count and record size; null when unavailable. */
function kafkaPerf(bootstrap: string, events: number, recordBytes: number): Row | null {
  const libs = join(packageRoot(), '.cache', 'kafka', 'libs', '*');
  const topic = `bench-perf-${Date.now()}`;
  try {
    const out = execFileSync(
      'java',
      [
        '-Xmx512m',
        '-cp',
        libs,
        'org.apache.kafka.tools.ProducerPerformance',
        '--topic',
        topic,
        '--num-records',
        String(events),
        '--record-size',
        String(recordBytes),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${bootstrap}`,
        'acks=all',
        // The settings of pidstream's Kafka sink: idempotent, gzip, 5 ms linger.
        'enable.idempotence=true',
        'compression.type=gzip',
        'linger.ms=5',
      ],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 600_000 },
    );
    // "200000 records sent, 81234.5 records/sec (…), …" is the last line.
    const last = out.trim().split('\n').pop() ?? '';
    const rate = Number(/records sent, ([\d.]+) records\/sec/.exec(last)?.[1]);
    if (!(rate > 0)) return null;
    return {
      what: 'Kafka ProducerPerformance (baseline)',
      events,
      seconds: events / rate,
      note: `${recordBytes}-byte records, acks=all, gzip`,
    };
  } catch (err) {
    process.stderr.write(
      `bench: Kafka's ProducerPerformance did not run: ${(err as Error).message.split('\n')[0]}\n`,
    );
    return null;
  }
}

/** Messages the topic holds: what the sink delivered, as opposed to what it spooled. */
async function deliveredTo(bootstrap: string, topic: string): Promise<number> {
  const admin = new Kafka({ brokers: [bootstrap], logLevel: logLevel.NOTHING }).admin();
  try {
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(topic);
    return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
  } catch (err) {
    process.stderr.write(`bench: counting ${topic}: ${(err as Error).message}\n`);
    return 0;
  } finally {
    await admin.disconnect();
  }
}

function kafkaBootstrap(): string | null {
  try {
    const out = execFileSync('bash', [join(packageRoot(), 'scripts', 'kafka', 'start.sh')], {
      encoding: 'utf8',
      timeout: 600_000,
    });
    return out.trim().split('\n').pop() ?? null;
  } catch (err) {
    process.stderr.write(`bench: no Kafka broker: ${(err as Error).message.split('\n')[0]}\n`);
    return null;
  }
}

function quantile(sorted: Float64Array, q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
}

/** Errors of written times against recorded gaps, from the written stream (--rewrite-time now). */
async function writtenLateness(from: string, to: string): Promise<Float64Array> {
  const times = async (dir: string): Promise<number[]> => {
    const out: number[] = [];
    for await (const e of new AvroFileSource(dir).events()) out.push(e.timeUs);
    return out;
  };
  const [recorded, written] = await Promise.all([times(from), times(to)]);
  const late = recorded.map(
    (t, i) =>
      ((written[i] as number) - (written[0] as number) - (t - (recorded[0] as number))) / 1000,
  );
  return Float64Array.from(late).sort();
}

/** The naive pacer: sleep each recorded gap with setTimeout, one after another. */
async function naiveLateness(from: string): Promise<Float64Array> {
  const late: number[] = [];
  let previous: number | null = null;
  let anchor = 0;
  let first = 0;
  for await (const e of new AvroFileSource(from).events()) {
    if (previous === null) {
      anchor = nowUs();
      first = e.timeUs;
    } else {
      await sleep((e.timeUs - previous) / 1000);
    }
    previous = e.timeUs;
    late.push((nowUs() - anchor - (e.timeUs - first)) / 1000);
  }
  return Float64Array.from(late).sort();
}

function rate(row: Row): number {
  return row.events / row.seconds;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(process.env.PIDSTREAM_BENCH_DIR ?? tmpdir(), 'bench-replay-'));
  try {
    process.stderr.write(`bench: generating ${EVENTS} events…\n`);
    await synthTo(join(dir, 'in'), EVENTS, 1000, 50);
    await synthTo(join(dir, 'paced'), PACED, PACED_RATE, 10);
    let recordBytes = 0;
    let recordCount = 0;
    for await (const e of new AvroFileSource(join(dir, 'in')).events()) {
      recordBytes += e.bytes.length;
      recordCount++;
    }
    const meanBytes = Math.round(recordBytes / recordCount);

    const rows: Row[] = [];
    rows.push(await copy(join(dir, 'in'), join(dir, 'copy')));
    rows.push(await replayMax(join(dir, 'in'), join(dir, 'out')));
    rows.push(cpFiles(join(dir, 'in'), join(dir, 'cp'), recordCount));
    // Most blocks hold an event of another class: they are compressed anew, not passed on.
    rows.push(await replayMax(join(dir, 'in'), join(dir, 'clean'), { filter: 'class == "CLEAN"' }));
    rows.push(await replayMax(join(dir, 'in'), join(dir, 'live'), { rewrite: true }));
    const bootstrap = kafkaBootstrap();
    if (bootstrap !== null) {
      const perf = kafkaPerf(bootstrap, recordCount, meanBytes);
      if (perf !== null) rows.push(perf);
      const runs = [
        ['copy', (to: string) => copy(join(dir, 'in'), to)],
        ['replay', (to: string) => replayMax(join(dir, 'in'), to)],
        ['rdkafka', (to: string) => replayMax(join(dir, 'in'), to, { transport: 'rdkafka' })],
      ] as const;
      for (const [label, run] of runs) {
        const topic = `bench-${label}-${Date.now()}`;
        const row = await run(`kafka://${bootstrap}/${topic}`);
        const delivered = await deliveredTo(bootstrap, topic);
        if (delivered < row.events) row.note = `only ${delivered} delivered: broker unavailable`;
        rows.push(row);
      }
    }

    process.stdout.write(
      `\nthroughput at --speed max (${recordCount} events, mean record ${meanBytes} B)\n`,
    );
    process.stdout.write(
      `${'what'.padEnd(44)} ${'events/s'.padStart(10)} ${'seconds'.padStart(8)}\n`,
    );
    for (const row of rows) {
      process.stdout.write(
        `${row.what.padEnd(44)} ${rate(row).toFixed(0).padStart(10)} ${row.seconds.toFixed(2).padStart(8)}${row.note === undefined ? '' : `  ${row.note}`}\n`,
      );
    }
    const [copyFiles, replayFiles] = rows;
    if (copyFiles !== undefined && replayFiles !== undefined) {
      process.stdout.write(
        `replay / copy, files: ${(rate(replayFiles) / rate(copyFiles)).toFixed(2)}\n`,
      );
    }

    const load = loadavg()[0]?.toFixed(1);
    process.stderr.write(`bench: pacing ${PACED} events at ${PACED_RATE}/s of event time…\n`);
    const summary = await replayOnce(join(dir, 'paced'), join(dir, 'paced-out'), 1, true);
    const written = await writtenLateness(join(dir, 'paced'), join(dir, 'paced-out'));
    const naive = await naiveLateness(join(dir, 'paced'));
    const p = summary.pacingErrorMs;
    process.stdout.write(
      `\npacing error at --speed 1, ${PACED} events at ${PACED_RATE}/s (1-min load average ${load})\n`,
    );
    process.stdout.write(
      `${'pacer'.padEnd(44)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}\n`,
    );
    const line = (what: string, p50: number, p99: number, max: number): void => {
      process.stdout.write(
        `${what.padEnd(44)} ${p50.toFixed(3).padStart(8)} ${p99.toFixed(3).padStart(8)} ${max.toFixed(3).padStart(8)}\n`,
      );
    };
    if (p !== null) line('replay: lateness at hand-over (pacer)', p.p50, p.p99, p.max);
    line(
      'replay: written time - due time',
      quantile(written, 0.5),
      quantile(written, 0.99),
      quantile(written, 1),
    );
    line(
      'naive setTimeout per gap (baseline)',
      quantile(naive, 0.5),
      quantile(naive, 0.99),
      quantile(naive, 1),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
