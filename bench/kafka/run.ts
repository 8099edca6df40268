/**
 * Events per second through the agent's delivery path into the local Kafka broker with
 * acks=all: sequencing (stamp + SHA-256 chain), the durable spool (append, fsync per write),
 * framing (Avro single-object encoding), and the transport's idempotent producer (kafkajs, one
 * send in flight; or librdkafka). Compared in the same run with Kafka's own
 * kafka-producer-perf-test (the Java client, from the same jars) against the same broker, same
 * record size, same compression, so the ratio holds on a busy machine; and with a bare kafkajs
 * producer under the sink's settings (no pidstream code), which shows what kafkajs itself
 * costs.
 *
 *   npm run bench:kafka [-- EVENTS]
 *
 * The event bodies are synthetic ProcessExit records from `pidstream synth`'s generator, encoded
 * before the clock starts: in the agent, body encoding runs in worker threads (bench:encode).
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg as osLoadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';

import { CompressionTypes, Kafka, logLevel, Partitioners } from 'kafkajs';

import { FleetGenerator } from '../../cli/synth/generator.js';
import { packageRoot } from '../../common/paths.js';
import { Sequencer } from '../../ingest/sequencer.js';
import {
  type KafkaCompression,
  KafkaSink,
  type KafkaTransportName,
  MAX_BATCH_BYTES,
} from '../../streams/kafka-sink.js';
import type { FsyncPolicy } from '../../streams/spool.js';
import { readStamp, SINGLE_OBJECT_HEADER_SIZE, singleObjectEncoder } from '../../streams/wire.js';

const run = promisify(execFile);
const EVENTS = Number(process.argv[2] ?? 300_000);
/** Events per sink write: the agent writes what its worker batches (256 exits) produce. */
const WRITE_BATCH = 256;

interface Row {
  producer: string;
  compression: KafkaCompression;
  fsync: FsyncPolicy | '-';
  eventsPerSecond: number;
}

function bodies(): Buffer[] {
  const generator = new FleetGenerator({
    seed: 'bench-kafka',
    hosts: 1,
    rate: 1000,
    startUs: 1_780_000_000_000_000,
    count: 20_000,
    durationUs: null,
    signatures: 50,
    zipfExponent: 1.1,
    crashLoops: 0,
    badDeploys: 0,
  });
  const out: Buffer[] = [];
  for (const event of generator.events()) {
    if (event.name === 'ProcessExit') out.push(event.bytes.subarray(readStamp(event.bytes).end));
  }
  return out;
}

async function pidstreamRun(
  brokers: string[],
  pool: Buffer[],
  transport: KafkaTransportName,
  compression: KafkaCompression,
  fsync: FsyncPolicy,
): Promise<{ perSecond: number; recordBytes: number }> {
  const spoolDir = mkdtempSync(join(tmpdir(), 'pidstream-bench-spool-'));
  const id = randomUUID().slice(0, 8);
  const topic = `bench-${id}.exits`;
  const sink = await KafkaSink.open({
    brokers,
    spoolDir,
    spoolFsync: fsync,
    spoolMaxBytes: 4 * 1024 * 1024 * 1024,
    compression,
    transport,
    topics: { ProcessExit: topic, Coredump: `bench-${id}.coredumps`, AgentEvent: topic },
  });
  const sequencer = new Sequencer({ host: 'bench', bootId: randomUUID(), instanceId: id });
  // Warm the connection and create the topic outside the timed part.
  await sink.write([sequencer.stamp('ProcessExit', pool[0] as Buffer)]);
  await sink.flush();

  let recordBytes = 0;
  const start = performance.now();
  for (let sent = 0; sent < EVENTS;) {
    const batch = [];
    for (let i = 0; i < WRITE_BATCH && sent < EVENTS; i++, sent++) {
      const event = sequencer.stamp('ProcessExit', pool[sent % pool.length] as Buffer);
      recordBytes += event.bytes.length;
      batch.push(event);
    }
    await sink.write(batch);
  }
  await sink.flush();
  const seconds = (performance.now() - start) / 1000;
  await sink.close();
  rmSync(spoolDir, { recursive: true, force: true });
  return {
    perSecond: EVENTS / seconds,
    recordBytes: Math.round(recordBytes / EVENTS) + SINGLE_OBJECT_HEADER_SIZE,
  };
}

/**
 * A bare kafkajs producer with the sink's settings (idempotent, one request in flight, acks=all,
 * the sink's batch cap, keyed, two headers), sending ready-made messages: kafkajs's own cost.
 */
async function bareKafkajsRun(
  brokers: string[],
  pool: Buffer[],
  compression: KafkaCompression,
): Promise<number> {
  const frame = singleObjectEncoder();
  const values = pool.map((body) => frame.frame('ProcessExit', body));
  const headers = frame.headers('ProcessExit');
  const key = Buffer.from('bench');
  const perRequest = Math.floor(MAX_BATCH_BYTES / ((values[0] as Buffer).length + 40));
  const producer = new Kafka({ brokers, logLevel: logLevel.NOTHING }).producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const topic = `bench-bare-${randomUUID().slice(0, 8)}`;
  const send = (from: number, count: number): Promise<unknown> =>
    producer.sendBatch({
      topicMessages: [
        {
          topic,
          messages: Array.from({ length: count }, (_, i) => ({
            key,
            value: values[(from + i) % values.length] as Buffer,
            headers: headers as Record<string, Buffer>,
          })),
        },
      ],
      acks: -1,
      compression: compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None,
    });
  await send(0, 1);
  const start = performance.now();
  for (let sent = 0; sent < EVENTS; sent += perRequest) {
    await send(sent, Math.min(perRequest, EVENTS - sent));
  }
  const seconds = (performance.now() - start) / 1000;
  await producer.disconnect();
  return EVENTS / seconds;
}

/** Kafka's own producer benchmark, the Java client, through the same broker. */
async function kafkaToolRun(
  bootstrap: string,
  recordBytes: number,
  compression: KafkaCompression,
): Promise<number> {
  const libs = join(packageRoot(), '.cache', 'kafka', 'libs', '*');
  const topic = `bench-tool-${randomUUID().slice(0, 8)}`;
  const { stdout } = await run(
    'java',
    [
      '-cp',
      libs,
      '-Dlog4j2.configurationFile=' + join(packageRoot(), 'scripts', 'kafka', 'log4j2.properties'),
      'org.apache.kafka.tools.ProducerPerformance',
      '--topic',
      topic,
      '--num-records',
      String(EVENTS),
      '--record-size',
      String(recordBytes),
      '--throughput',
      '-1',
      '--producer-props',
      `bootstrap.servers=${bootstrap}`,
      'acks=all',
      'enable.idempotence=true',
      `compression.type=${compression}`,
      'linger.ms=5',
    ],
    { maxBuffer: 16 * 1024 * 1024, timeout: 600_000 },
  );
  // The summary line: "300000 records sent, 251256.281407 records/sec (…)".
  const summary = stdout
    .split('\n')
    .filter((l) => l.includes('records sent'))
    .pop();
  const match = summary === undefined ? null : /records sent, ([\d.]+) records\/sec/.exec(summary);
  if (match === null) throw new Error(`kafka-producer-perf-test printed no summary:\n${stdout}`);
  return Number(match[1]);
}

function loadavg(): string {
  return osLoadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

const START_LOAD = loadavg();
/** Pause before each run: the broker finishes writing out the last run's log first. */
const SETTLE_MS = 3_000;

function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
}

function table(rows: Row[], recordBytes: number): string {
  const header = ['producer', 'compression', 'spool fsync', 'events/s'];
  const body = rows.map((r) => [
    r.producer,
    r.compression,
    r.fsync,
    Math.round(r.eventsPerSecond).toLocaleString('en-US'),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...body.map((b) => (b[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((cell, c) => cell.padEnd(widths[c] as number)).join('  ');
  return [
    `${EVENTS.toLocaleString('en-US')} events of ${recordBytes} bytes, acks=all, one broker, load average ${START_LOAD} at start`,
    line(header),
    ...body.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const scripts = join(packageRoot(), 'scripts', 'kafka');
  const wasRunning = await run(
    'bash',
    ['-c', `test -f .cache/kafka/broker.pid && kill -0 $(cat .cache/kafka/broker.pid)`],
    {
      cwd: packageRoot(),
    },
  ).then(
    () => true,
    () => false,
  );
  const bootstrap = (await run('bash', [join(scripts, 'start.sh')])).stdout.trim();
  try {
    const pool = bodies();
    const rows: Row[] = [];
    const ratios: string[] = [];
    let size = 0;
    for (const compression of ['none', 'gzip'] as const) {
      const best = new Map<KafkaTransportName, number>();
      for (const transport of ['kafkajs', 'rdkafka'] as const) {
        const fsyncs: FsyncPolicy[] = compression === 'none' ? ['batch', 'none'] : ['batch'];
        for (const fsync of fsyncs) {
          await settle();
          const result = await pidstreamRun([bootstrap], pool, transport, compression, fsync);
          size = result.recordBytes;
          if (fsync === 'batch') best.set(transport, result.perSecond);
          rows.push({
            producer: `pidstream (spool + ${transport})`,
            compression,
            fsync,
            eventsPerSecond: result.perSecond,
          });
        }
      }
      rows.push({
        producer: 'kafkajs alone (no spool)',
        compression,
        fsync: '-',
        eventsPerSecond: await settle().then(() => bareKafkajsRun([bootstrap], pool, compression)),
      });
      await settle();
      const tool = await kafkaToolRun(bootstrap, size, compression);
      rows.push({
        producer: 'kafka-producer-perf-test',
        compression,
        fsync: '-',
        eventsPerSecond: tool,
      });
      for (const [transport, perSecond] of best) {
        ratios.push(
          `${compression}: pidstream (${transport}) / Kafka's tool = ${(perSecond / tool).toFixed(2)}`,
        );
      }
    }
    process.stdout.write(`${table(rows, size)}\n${ratios.join('\n')}\nload average ${loadavg()}\n`);
  } finally {
    if (!wasRunning) await run('bash', [join(scripts, 'stop.sh')]);
  }
}

await main();
