/**
 * `pidstream synth --to DST`: a realistic fleet's crash stream that never happened, the same
 * for the same seed, byte for byte. docs/replay.md describes the model.
 */
import type { Command } from 'commander';

import { UsageError } from '../../common/errors.js';
import type { KafkaTransportName } from '../../streams/kafka-transport.js';
import { openReplaySink } from '../replay/ends.js';
import {
  kafkaTransportOption,
  nonNegativeInteger,
  parseDurationUs,
  parseRate,
  parseSpeed,
  positiveInteger,
  positiveNumber,
  summaryOption,
} from '../replay/flags.js';
import { untilInterrupted } from '../replay/interrupt.js';
import { formatSummary } from '../replay/summary.js';
import { parseTimeUs } from '../replay/time-range.js';
import { FleetGenerator, SynthOptions } from '../synth/generator.js';
import { synthesise } from '../synth/synthesise.js';

/** Fleet and catalogue bounds: beyond them a run is a mistake more often than a plan. */
const MAX_HOSTS = 100_000;
const MAX_COUNT = 1_000_000_000;
const MAX_SIGNATURES = 100_000;
const MAX_INCIDENTS = 10_000;
/** Event-time density of `--rate max`, which also writes as fast as possible. */
export const MAX_RATE_DENSITY = 1000;
export const DEFAULT_START = '2026-01-01T00:00:00Z';

interface SynthFlags {
  to: string;
  rate: number;
  duration?: number;
  count?: number;
  hosts: number;
  seed: string;
  start: string;
  speed?: number;
  signatures: number;
  zipf: number;
  crashLoops?: number;
  badDeploys?: number;
  progress: boolean;
  summary: 'text' | 'json';
  kafkaTransport: KafkaTransportName;
}

export function registerSynth(program: Command): void {
  program
    .command('synth')
    .description('generate a realistic fleet crash stream, the same for the same seed')
    .requiredOption('--to <uri>', 'destination: directory, kafka://host:port/topic, - (JSON)')
    .option('--rate <n/s>', 'process events per second of event time, or max', parseRate, 100)
    .option('--duration <d>', 'event time to cover (30s, 5m, 1h)', parseDurationUs)
    .option(
      '--count <n>',
      'process events to write (ProcessExit and Coredump)',
      positiveInteger(MAX_COUNT),
    )
    .option('--hosts <n>', 'hosts in the fleet', positiveInteger(MAX_HOSTS), 20)
    .option('--seed <s>', 'seed of every random choice', '1')
    .option('--start <when>', 'time of the first event (ISO-8601, or now)', DEFAULT_START)
    .option('--speed <factor>', 'pace of the output: 1 = as the times say, N, max', parseSpeed)
    .option(
      '--signatures <n>',
      'distinct crashes in the catalogue',
      positiveInteger(MAX_SIGNATURES),
      200,
    )
    .option('--zipf <s>', 'Zipf exponent of crash popularity', positiveNumber(10), 1.1)
    .option(
      '--crash-loops <n>',
      'crash loops (default one per 10 min of event time)',
      nonNegativeInteger(MAX_INCIDENTS),
    )
    .option(
      '--bad-deploys <n>',
      'bad deploys (default one per hour of event time)',
      nonNegativeInteger(MAX_INCIDENTS),
    )
    .option('--no-progress', 'no progress line on a terminal')
    .addOption(summaryOption())
    .addOption(kafkaTransportOption())
    .action(async (flags: SynthFlags) => {
      await runSynth(flags);
    });
}

export function synthOptionsFrom(flags: SynthFlags): SynthOptions {
  if ((flags.duration === undefined) === (flags.count === undefined)) {
    throw new UsageError('synth: give exactly one of --duration and --count');
  }
  const unpaced = flags.rate === Number.POSITIVE_INFINITY;
  return {
    seed: flags.seed,
    hosts: flags.hosts,
    rate: unpaced ? MAX_RATE_DENSITY : flags.rate,
    startUs: parseTimeUs(flags.start, '--start'),
    count: flags.count ?? null,
    durationUs: flags.duration ?? null,
    signatures: flags.signatures,
    zipfExponent: flags.zipf,
    crashLoops: flags.crashLoops ?? null,
    badDeploys: flags.badDeploys ?? null,
  };
}

async function runSynth(flags: SynthFlags): Promise<void> {
  const options = synthOptionsFrom(flags);
  const speed =
    flags.speed ?? (flags.rate === Number.POSITIVE_INFINITY ? Number.POSITIVE_INFINITY : 1);
  const generator = new FleetGenerator(options);
  const sink = await openReplaySink(flags.to, flags.kafkaTransport);
  const summary = await untilInterrupted((signal) =>
    synthesise(generator, sink, {
      speed,
      signal,
      progress: flags.progress && process.stderr.isTTY ? process.stderr : null,
      end: {
        startUs: options.startUs,
        endUs: options.durationUs === null ? null : options.startUs + options.durationUs,
        total: options.count === null ? null : options.count + 2 * options.hosts,
      },
    }),
  );
  const text =
    flags.summary === 'json'
      ? JSON.stringify(summary)
      : formatSummary(
          'synth',
          summary,
          `written ${summary.written} events from ${options.hosts} hosts`,
        );
  process.stderr.write(`${text}\n`);
}
