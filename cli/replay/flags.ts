/**
 * Parsers of the flags replay and synth share. Each throws commander's InvalidArgumentError
 * with what the value must be; the CLI prints it on one line and exits 2.
 */
import { InvalidArgumentError, Option } from 'commander';

import { parseDuration } from '../../common/config-schema.js';
import { DEFAULT_KAFKA_TRANSPORT, KAFKA_TRANSPORTS } from '../../streams/kafka-transport.js';

/** Highest --speed: beyond it, use max. */
export const MAX_SPEED = 1_000_000;

/** `--speed`: 1 (recorded pace), a factor N (N times faster, fractions slow down) or max. */
export function parseSpeed(value: string): number {
  if (value === 'max') return Number.POSITIVE_INFINITY;
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > MAX_SPEED) {
    throw new InvalidArgumentError(
      `expected a factor above 0 up to ${MAX_SPEED} (1, 10, 0.5) or max.`,
    );
  }
  return n;
}

/** `--rate`: events per second of event time, as N or N/s; or max. */
export function parseRate(value: string): number {
  if (value === 'max') return Number.POSITIVE_INFINITY;
  const match = /^(\d+(?:\.\d+)?)(?:\/s)?$/.exec(value);
  const n = match === null ? Number.NaN : Number(match[1]);
  if (!(n > 0) || n > MAX_SPEED) {
    throw new InvalidArgumentError(
      `expected events per second above 0 up to ${MAX_SPEED}, like 500/s, or max.`,
    );
  }
  return n;
}

/** `--duration`: seconds, or a number with s, m, h or d; returned in microseconds. */
export function parseDurationUs(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined || seconds <= 0) {
    throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h.');
  }
  return seconds * 1e6;
}

export function positiveInteger(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from 1 to ${max}.`);
    }
    return Number(value);
  };
}

export function nonNegativeInteger(max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from 0 to ${max}.`);
    }
    return Number(value);
  };
}

export function positiveNumber(max: number): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > max) {
      throw new InvalidArgumentError(`expected a number above 0 up to ${max}.`);
    }
    return n;
  };
}

/** `--summary text|json`: how the summary is printed on stderr when the stream stops. */
export function summaryOption(): Option {
  return new Option('--summary <format>', 'summary on stderr at the end')
    .choices(['text', 'json'])
    .default('text');
}

/** `--kafka-transport kafkajs|rdkafka`: the producer under a kafka:// destination. */
export function kafkaTransportOption(): Option {
  return new Option('--kafka-transport <name>', 'producer of a kafka:// destination')
    .choices(KAFKA_TRANSPORTS)
    .default(DEFAULT_KAFKA_TRANSPORT);
}
