/** Flags `pidstream query` and `pidstream report` share: where the events come from. */
import type { Command } from 'commander';

import { UsageError } from '../../common/errors.js';
import { parseTimeUs } from '../replay/time-range.js';
import type { LoadWindow } from './load.js';
import { FORMATS, parseFormat } from './output.js';

export interface SourceFlags {
  from: string;
  since?: string;
  until?: string;
  save?: string;
}

export function addSourceOptions(command: Command): Command {
  return command
    .requiredOption(
      '--from <src>',
      'events: Avro file or directory, kafka://host:port[/topic], or a saved .duckdb',
    )
    .option('--since <time>', 'first event time, inclusive (ISO-8601, now, -2h, -7d)')
    .option('--until <time>', 'last event time, exclusive (ISO-8601, now, -2h, -7d)')
    .option('--save <file.duckdb>', 'keep the loaded database in this file')
    .option(`--format <format>`, `output: ${FORMATS.join(', ')}`, parseFormat, 'table');
}

export function windowFrom(flags: SourceFlags, nowUs: number = Date.now() * 1000): LoadWindow {
  const sinceUs = flags.since === undefined ? null : parseTimeUs(flags.since, '--since', nowUs);
  const untilUs = flags.until === undefined ? null : parseTimeUs(flags.until, '--until', nowUs);
  if (sinceUs !== null && untilUs !== null && untilUs <= sinceUs) {
    throw new UsageError(`--until ${flags.until} is not after --since ${flags.since}`);
  }
  return { sinceUs, untilUs };
}
