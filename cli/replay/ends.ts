/**
 * Opens the two ends of a replay or synthesis from their URIs (streams/uri.ts), with the
 * flag each came from named in errors, and checks that a range by offsets is asked of a
 * Kafka topic only.
 */
import { UsageError } from '../../common/errors.js';
import { openSink, openSource } from '../../streams/open.js';
import type { KafkaTransportName } from '../../streams/kafka-transport.js';
import type { EventSink, EventSource } from '../../streams/types.js';
import { parseStreamUri } from '../../streams/uri.js';
import { RangeBound, timeOf } from './time-range.js';

export interface SourceRange {
  since: RangeBound | null;
  until: RangeBound | null;
}

export async function openReplaySource(raw: string, range: SourceRange): Promise<EventSource> {
  const uri = parseStreamUri(raw, '--from');
  const offsets = [range.since, range.until].some((b) => b?.kind === 'offsets');
  if (offsets && uri.kind !== 'kafka') {
    throw new UsageError(
      `--since/--until offset:… select Kafka offsets; ${raw} is not a Kafka topic`,
    );
  }
  // Kafka's time index holds when each message was produced, never before its event: seeking
  // to --since skips only events before it. --until is not passed on, because an event
  // produced late may lie before it; the replay selects by event time exactly.
  const since = timeOf(range.since);
  return openSource(uri, since === null ? {} : { kafkaFromTimeMs: Math.floor(since / 1000) });
}

/**
 * A replay or a synthesis writes a stream that already exists elsewhere, or can be made again:
 * its files are synced once a second and at the end, not after every block as the agent's
 * are (docs/replay.md).
 */
export async function openReplaySink(
  raw: string,
  transport: KafkaTransportName = 'kafkajs',
): Promise<EventSink> {
  return openSink(parseStreamUri(raw, '--to'), { syncEachBlock: false, kafka: { transport } });
}
