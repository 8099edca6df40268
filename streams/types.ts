/**
 * The two ends every stream of pidstream events has. Sinks take stamped events in sequence
 * order (the agent, replay, synth); sources yield them back (cat, replay, query, verify).
 * The unit on both sides is the full Avro record of one event: its `agent` stamp and body.
 */
import type { StampedEvent } from '../ingest/sequencer.js';
import type { EventName } from '../schemas/index.js';

export interface EventSink {
  /** Takes events in sequence order. Resolves once they are as durable as this sink promises. */
  write(events: readonly StampedEvent[]): Promise<void>;
  /** Makes everything written so far durable and readable. */
  flush(): Promise<void>;
  /** Flushes and releases the sink; a clean stop leaves every file valid and closed. */
  close(): Promise<void>;
}

export interface ReadEvent {
  name: EventName;
  /** The full Avro record (stamp followed by body), byte for byte as written. */
  bytes: Buffer;
  /** The event's `time` field, wall-clock microseconds. */
  timeUs: number;
  /** Where it was read: `file:block` or `topic/partition@offset`, for error messages. */
  position: string;
}

export interface EventSource {
  events(): AsyncIterable<ReadEvent>;
  close(): Promise<void>;
}
