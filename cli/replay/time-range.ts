/**
 * `--since` and `--until`: a time (ISO-8601, or relative to now such as -2h, -30m, -1d) or,
 * for a Kafka topic, offsets: `offset:N` for every partition, `offset:P=N,P=N` per partition.
 * `--since` is inclusive, `--until` exclusive, for times and offsets alike.
 */
import { UsageError } from '../../common/errors.js';

export type RangeBound =
  | { kind: 'time'; timeUs: number }
  | { kind: 'offsets'; all: bigint | null; byPartition: ReadonlyMap<number, bigint> };

const UNIT_US: Record<string, number> = {
  ms: 1e3,
  s: 1e6,
  m: 60e6,
  h: 3600e6,
  d: 86_400e6,
};

const RELATIVE = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
/** A date, optionally with a time: Date.parse alone would accept forms like "1" or "May 5". */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** Wall-clock microseconds of `text` (ISO-8601, `now` or -N[ms|s|m|h|d]), named by `flag`. */
export function parseTimeUs(text: string, flag: string, nowUs: number = Date.now() * 1000): number {
  if (text === 'now') return nowUs;
  const relative = RELATIVE.exec(text);
  if (relative !== null) {
    return nowUs - Math.round(Number(relative[1]) * (UNIT_US[relative[2] as string] as number));
  }
  const parsed = ISO_8601.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(parsed)) {
    throw new UsageError(
      `${flag}: '${text}' is not a time; expected ISO-8601 (2026-05-01T12:00:00Z), now or -N with s, m, h or d (-2h)`,
    );
  }
  // Date.parse keeps milliseconds; the fraction below them is added back.
  const fraction = /\.(\d{4,6})/.exec(text)?.[1];
  const extraUs = fraction === undefined ? 0 : Number(fraction.padEnd(6, '0').slice(3));
  return parsed * 1000 + extraUs;
}

export function parseBound(text: string, flag: string, nowUs?: number): RangeBound {
  if (!text.startsWith('offset:')) return { kind: 'time', timeUs: parseTimeUs(text, flag, nowUs) };

  const spec = text.slice('offset:'.length);
  if (/^\d+$/.test(spec)) return { kind: 'offsets', all: BigInt(spec), byPartition: new Map() };
  const byPartition = new Map<number, bigint>();
  for (const part of spec.split(',')) {
    const match = /^(\d+)=(\d+)$/.exec(part);
    if (match === null) {
      throw new UsageError(
        `${flag}: '${part}' in ${text} is not an offset; expected offset:N or offset:PARTITION=N,…`,
      );
    }
    byPartition.set(Number(match[1]), BigInt(match[2] as string));
  }
  return { kind: 'offsets', all: null, byPartition };
}

/** The time a bound sets, in microseconds, or null for none or an offset bound. */
export function timeOf(bound: RangeBound | null): number | null {
  return bound?.kind === 'time' ? bound.timeUs : null;
}

/** The offset a bound sets for `partition`, or undefined when it names none for it. */
export function offsetFor(bound: RangeBound | null, partition: number): bigint | undefined {
  if (bound === null || bound.kind !== 'offsets') return undefined;
  return bound.byPartition.get(partition) ?? bound.all ?? undefined;
}

/** Partition and offset of a Kafka event from its position, `topic/partition@offset`. */
export function kafkaPosition(position: string): { partition: number; offset: bigint } | null {
  const match = /\/(\d+)@(\d+)$/.exec(position);
  if (match === null) return null;
  return { partition: Number(match[1]), offset: BigInt(match[2] as string) };
}

/**
 * Whether an event at `position` lies within offset bounds (since inclusive, until exclusive);
 * a bound that names no offset for the event's partition does not limit it.
 */
export function withinOffsets(
  position: string,
  since: RangeBound | null,
  until: RangeBound | null,
): boolean {
  const at = kafkaPosition(position);
  if (at === null) return true;
  const low = offsetFor(since, at.partition);
  const high = offsetFor(until, at.partition);
  return (low === undefined || at.offset >= low) && (high === undefined || at.offset < high);
}
