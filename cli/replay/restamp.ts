/**
 * Rewrites what makes a replayed stream its own: with `--rewrite-time now` each event's `time`
 * becomes the moment it is emitted (and the process's start_time moves with it, so lifetimes
 * hold); and each recorded agent stream (host, boot, instance) becomes a new instance with a
 * fresh Sequencer, so seq runs from 0 without gaps and prev_digest chains over the bytes as
 * written. `pidstream verify` then passes on the replayed stream, even when --filter or a
 * time range removed events from it.
 */
import { randomUUID } from 'node:crypto';

import { PidstreamError } from '../../common/errors.js';
import { Sequencer, StampedEvent } from '../../ingest/sequencer.js';
import { bodyType, EventName, stampType } from '../../schemas/index.js';
import { readVarLong, skipBytes } from '../../streams/avro-skip.js';
import type { EventRecord } from './event-record.js';

/** Recorded agent streams followed at once; a replay of more is refused, not degraded. */
export const RESTAMP_STREAMS_CAP = 100_000;
/**
 * Coredump seqs remembered per stream, to point a later ProcessExit's coredump_seq at its
 * Coredump's new seq. The exit follows its core within seconds, so a window this size covers
 * it; a link to an older Coredump is written as null and counted in `unlinked`.
 */
export const COREDUMP_LINKS_CAP = 4096;

interface Restream {
  sequencer: Sequencer;
  /** Recorded Coredump seq → its seq in the new stream, oldest first. */
  coredumps: Map<number, number>;
}

export interface StampHead {
  host: string;
  boot_id: string;
  instance_id: string;
  seq: number;
  /** Where the body starts in the record. */
  bodyOffset: number;
}

/** The stamp at the head of a full record, decoded alone. */
export function readStamp(bytes: Buffer): StampHead {
  const { value, offset } = stampType().decode(bytes, 0) as {
    value: Omit<StampHead, 'bodyOffset'> | undefined;
    offset: number;
  };
  if (value === undefined) throw new RangeError('event record ends inside its agent stamp');
  return { ...value, bodyOffset: offset };
}

/**
 * The stamp's seq alone, for records passed through unchanged: the stamp opens with three
 * strings (host, boot_id, instance_id) and then seq, so three lengths are jumped and one long
 * read, where readStamp would build the three strings.
 */
export function readSeq(bytes: Buffer): number {
  const at = skipBytes(bytes, skipBytes(bytes, skipBytes(bytes, 0)));
  const seq = readVarLong(bytes, at);
  if (Number.isNaN(seq)) throw new RangeError('event record ends inside its agent stamp');
  return seq;
}

export class Restamper {
  readonly #streams = new Map<string, Restream>();
  readonly #shiftTime: boolean;
  /** ProcessExit coredump_seq links that pointed outside the window or at a removed event. */
  unlinked = 0;

  constructor(options: { shiftTime: boolean }) {
    this.#shiftTime = options.shiftTime;
  }

  get streams(): number {
    return this.#streams.size;
  }

  /** Whether `restamp` needs the decoded record (otherwise the body bytes are reused). */
  needsRecord(name: EventName): boolean {
    return this.#shiftTime || name === 'ProcessExit';
  }

  /**
   * The event as the next of its new stream. `record` is the decoded event when
   * `needsRecord(name)`; `emitUs` the wall-clock microseconds of its emission.
   */
  restamp(
    name: EventName,
    bytes: Buffer,
    record: EventRecord | null,
    emitUs: number,
  ): StampedEvent {
    const stamp = readStamp(bytes);
    const stream = this.#stream(stamp);
    const stamped = stream.sequencer.stamp(
      name,
      this.#body(name, bytes, stamp, stream, record, emitUs),
    );
    if (name === 'Coredump') {
      if (stream.coredumps.size >= COREDUMP_LINKS_CAP) {
        stream.coredumps.delete(stream.coredumps.keys().next().value as number);
      }
      stream.coredumps.set(stamp.seq, stamped.seq);
    }
    return stamped;
  }

  #body(
    name: EventName,
    bytes: Buffer,
    stamp: StampHead,
    stream: Restream,
    record: EventRecord | null,
    emitUs: number,
  ): Buffer {
    if (record === null) return bytes.subarray(stamp.bodyOffset);
    if (this.#shiftTime) {
      const shift = emitUs - record.time;
      record.time = emitUs;
      if (record.process?.start_time != null) record.process.start_time += shift;
    }
    if (record.coredump_seq != null) {
      const linked = stream.coredumps.get(record.coredump_seq);
      if (linked === undefined) this.unlinked++;
      record.coredump_seq = linked ?? null;
    }
    return bodyType(name).toBuffer(record);
  }

  #stream(stamp: StampHead): Restream {
    const key = `${stamp.host}\n${stamp.boot_id}\n${stamp.instance_id}`;
    let stream = this.#streams.get(key);
    if (stream === undefined) {
      if (this.#streams.size >= RESTAMP_STREAMS_CAP) {
        throw new PidstreamError(
          'PIDSTREAM_ERR_SOURCE',
          `restamping agent stream ${stamp.host}/${stamp.instance_id}: the source holds more than ${RESTAMP_STREAMS_CAP} agent streams`,
        );
      }
      const identity = { host: stamp.host, bootId: stamp.boot_id, instanceId: randomUUID() };
      stream = { sequencer: new Sequencer(identity), coredumps: new Map() };
      this.#streams.set(key, stream);
    }
    return stream;
  }
}
