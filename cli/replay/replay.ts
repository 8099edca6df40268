/**
 * `pidstream replay` as a pipeline of named steps, one event at a time:
 * read → select (time range) → filter → pace → restamp → write.
 * Order is the source's: nothing is reordered, so each host's events keep theirs.
 *
 * Events are read in blocks (a container file's block, or one event from other sources) and
 * walked in a plain loop: at --speed max the loop awaits once per batch handed to the sink,
 * not once per event.
 */
import type { StampedEvent } from '../../ingest/sequencer.js';
import type { BlockEvent } from '../../streams/avro-file-sink.js';
import { AvroFileSource, type FileReadEvent } from '../../streams/avro-file-source.js';
import type { EventSink, EventSource, ReadEvent } from '../../streams/types.js';
import { decodeEvent, EventRecord } from './event-record.js';
import { Emitter, nowUs } from './emitter.js';
import type { CompiledFilter } from './filter.js';
import { Pacer } from './pacer.js';
import { PREFETCH_CAP, prefetched } from './prefetch.js';
import { Progress } from './progress.js';
import { readSeq, readStamp, Restamper } from './restamp.js';
import { summarise, Summary } from './summary.js';
import { RangeBound, timeOf, withinOffsets } from './time-range.js';

export interface ReplayOptions {
  speed: number;
  /** Bounds by event time or Kafka offsets: since inclusive, until exclusive. */
  since: RangeBound | null;
  until: RangeBound | null;
  filter: CompiledFilter | null;
  /** `--rewrite-time now`: times become emission times; implies restamping. */
  rewriteTime: boolean;
  /** New instance, seq and chain for every recorded agent stream, times untouched. */
  restamp: boolean;
  signal: AbortSignal;
  /** Where to draw the progress line (a terminal), or null for none. */
  progress: NodeJS.WriteStream | null;
  /** Events the source holds, when it knows, for the progress bar. */
  total?: number | null;
}

export interface ReplaySummary extends Summary {
  read: number;
  filtered: number;
  outOfRange: number;
  /** ProcessExit coredump_seq links that could not be carried over (see restamp.ts). */
  unlinked: number;
}

/** Replays `source` into `sink`, closing both, and says what was done. */
export async function replay(
  source: EventSource,
  sink: EventSink,
  options: ReplayOptions,
): Promise<ReplaySummary> {
  const emitter = new Emitter(sink, new Pacer(options.speed), options.signal);
  const restamper =
    options.rewriteTime || options.restamp
      ? new Restamper({ shiftTime: options.rewriteTime })
      : null;
  const counts = { read: 0, filtered: 0, outOfRange: 0 };
  const progress =
    options.progress === null
      ? null
      : new Progress(options.progress, emitter.state, {
          startUs: timeOf(options.since),
          endUs: timeOf(options.until),
          total: options.total ?? null,
          speed: options.speed,
        });
  progress?.start();
  try {
    await run(source, emitter, restamper, counts, options);
    await emitter.drain();
  } finally {
    progress?.stop();
    await Promise.all([sink.close(), source.close()]);
  }
  return {
    ...counts,
    ...summarise(emitter, options.signal.aborted),
    unlinked: restamper?.unlinked ?? 0,
  };
}

async function run(
  source: EventSource,
  emitter: Emitter,
  restamper: Restamper | null,
  counts: { read: number; filtered: number; outOfRange: number },
  options: ReplayOptions,
): Promise<void> {
  const { filter, signal } = options;
  const sinceUs = timeOf(options.since) ?? Number.NEGATIVE_INFINITY;
  const untilUs = timeOf(options.until) ?? Number.POSITIVE_INFINITY;
  const byOffset = options.since?.kind === 'offsets' || options.until?.kind === 'offsets';
  const blocks = prefetched(blocksOf(source), PREFETCH_CAP, (block) => block.length);
  read: for await (const block of blocks) {
    for (const event of block) {
      if (signal.aborted) break read;
      emitter.state.read = ++counts.read;
      const outside =
        event.timeUs < sinceUs ||
        event.timeUs >= untilUs ||
        (byOffset && !withinOffsets(event.position, options.since, options.until));
      if (outside) {
        counts.outOfRange++;
        continue;
      }
      let record: EventRecord | null = null;
      if (filter !== null) {
        record = filter.needsBody ? decodeEvent(event.name, event.bytes) : stampOnly(event);
        if (!filter.test(event.name, record)) {
          counts.filtered++;
          continue;
        }
        if (!filter.needsBody) record = null;
      }

      const wait = emitter.due(event.timeUs);
      if (wait !== null) {
        await wait;
        if (signal.aborted) break read;
      }
      const stamped = restamper === null ? passThrough(event) : rewrite(restamper, event, record);
      const full = emitter.push(stamped, event.timeUs);
      if (full !== null) await full;
    }
  }
}

/** An event as a source yields it; a file source's carries the block it was read from. */
type SourceEvent = ReadEvent & Partial<Pick<FileReadEvent, 'block'>>;

/** The source's events in arrays: a file source's blocks, one event at a time from others. */
async function* blocksOf(source: EventSource): AsyncGenerator<readonly SourceEvent[]> {
  if (source instanceof AvroFileSource) {
    yield* source.blocks();
    return;
  }
  for await (const event of source.events()) yield [event];
}

function stampOnly(event: ReadEvent): EventRecord {
  const stamp = readStamp(event.bytes);
  return { agent: { ...stamp, prev_digest: Buffer.alloc(0) }, time: event.timeUs };
}

/**
 * The recorded bytes as they are: file → file reproduces the same payloads, and a file sink
 * given a whole block this way writes its compressed bytes again.
 */
function passThrough(event: SourceEvent): BlockEvent {
  return {
    name: event.name,
    seq: readSeq(event.bytes),
    bytes: event.bytes,
    block: event.block ?? null,
  };
}

function rewrite(
  restamper: Restamper,
  event: ReadEvent,
  decoded: EventRecord | null,
): StampedEvent {
  const needed = restamper.needsRecord(event.name);
  const record = needed ? (decoded ?? decodeEvent(event.name, event.bytes)) : null;
  return restamper.restamp(event.name, event.bytes, record, nowUs());
}
