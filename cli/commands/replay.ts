/**
 * `pidstream replay --from SRC --to DST`: a recorded stream, at its pace, faster or as fast as
 * possible, optionally cut to a time range, filtered, and made to look live. docs/replay.md
 * describes the flags, the filter language and the figures measured.
 */
import type { KafkaTransportName } from '../../streams/kafka-transport.js';
import { type Command, Option } from 'commander';

import { AvroFileSource } from '../../streams/avro-file-source.js';
import { countFileEvents } from '../replay/extent.js';
import { compileFilter } from '../replay/filter.js';
import { openReplaySink, openReplaySource } from '../replay/ends.js';
import { kafkaTransportOption, parseSpeed, summaryOption } from '../replay/flags.js';
import { untilInterrupted } from '../replay/interrupt.js';
import { replay, ReplaySummary } from '../replay/replay.js';
import { formatSummary } from '../replay/summary.js';
import { parseBound } from '../replay/time-range.js';

interface ReplayFlags {
  from: string;
  to: string;
  speed: number;
  since?: string;
  until?: string;
  filter?: string;
  rewriteTime?: 'now';
  restamp: boolean;
  progress: boolean;
  summary: 'text' | 'json';
  kafkaTransport: KafkaTransportName;
}

export function registerReplay(program: Command): void {
  program
    .command('replay')
    .description('replay a recorded stream at its pace, faster, or as fast as possible')
    .requiredOption('--from <uri>', 'source: Avro file or directory, kafka://host:port/topic, -')
    .requiredOption('--to <uri>', 'destination: directory, kafka://host:port/topic, - (JSON)')
    .option('--speed <factor>', '1 = recorded pace, N = N times faster, max', parseSpeed, 1)
    .option('--since <when>', 'from this event time (ISO-8601, -2h) or offset:N (inclusive)')
    .option('--until <when>', 'up to this event time or offset:N (exclusive)')
    .option('--filter <expr>', 'keep events matching, e.g. type == "coredump" and exe ~ "nginx"')
    .addOption(
      new Option('--rewrite-time <mode>', 'times become emission times; new seq and chain').choices(
        ['now'],
      ),
    )
    .option('--restamp', 'new instance id, seq and chain per agent stream, times kept', false)
    .option('--no-progress', 'no progress line on a terminal')
    .addOption(summaryOption())
    .addOption(kafkaTransportOption())
    .action(async (flags: ReplayFlags) => {
      await runReplay(flags);
    });
}

async function runReplay(flags: ReplayFlags): Promise<void> {
  const since = flags.since === undefined ? null : parseBound(flags.since, '--since');
  const until = flags.until === undefined ? null : parseBound(flags.until, '--until');
  const filter = flags.filter === undefined ? null : compileFilter(flags.filter);

  const source = await openReplaySource(flags.from, { since, until });
  const sink = await openReplaySink(flags.to, flags.kafkaTransport).catch(async (err: unknown) => {
    await source.close();
    throw err;
  });
  const progress = flags.progress && process.stderr.isTTY ? process.stderr : null;
  const total =
    progress !== null && source instanceof AvroFileSource
      ? await countFileEvents(flags.from)
      : null;
  const summary = await untilInterrupted((signal) =>
    replay(source, sink, {
      speed: flags.speed,
      since,
      until,
      filter,
      rewriteTime: flags.rewriteTime === 'now',
      restamp: flags.restamp,
      signal,
      progress,
      total,
    }),
  );
  process.stderr.write(`${render(summary, flags.summary)}\n`);
}

function render(summary: ReplaySummary, format: 'text' | 'json'): string {
  if (format === 'json') return JSON.stringify(summary);
  const counts = `read ${summary.read}, written ${summary.written}, filtered ${summary.filtered}, out of range ${summary.outOfRange}`;
  return formatSummary('replay', summary, counts);
}
