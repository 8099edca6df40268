/**
 * Opens the two ends of a replay or synthesis from their URIs (streams/uri.ts), passing a
 * Kafka source the range to start from so that the broker, not the replay, skips what comes
 * before it.
 */
import { UsageError } from '../../common/errors.js';
import { AvroFileSink } from '../../streams/avro-file-sink.js';
import { AvroFileSource } from '../../streams/avro-file-source.js';
import type { EventSink, EventSource } from '../../streams/types.js';
import { parseStreamUri } from '../../streams/uri.js';
import type { RangeBound } from './time-range.js';

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
  switch (uri.kind) {
    case 'files':
      return new AvroFileSource(uri.path);
    default:
      throw new UsageError(`--from: reading ${raw} is not supported yet`);
  }
}

export async function openReplaySink(raw: string): Promise<EventSink> {
  const uri = parseStreamUri(raw, '--to');
  switch (uri.kind) {
    case 'files': {
      const sink = new AvroFileSink({ dir: uri.path });
      await sink.open();
      return sink;
    }
    default:
      throw new UsageError(`--to: writing ${raw} is not supported yet`);
  }
}
