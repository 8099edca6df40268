/**
 * The durable spool in front of Kafka: an append-only log of stamped events on local disk.
 * Every event is appended here before it is sent, and leaves only after Kafka acknowledged it,
 * so the brokers being away, or the agent being killed, loses nothing that reached the spool.
 *
 * Layout of the directory:
 *   <first offset, 20 digits>.seg   segments; a record is
 *                                   u32le length | u32le CRC-32 of payload | payload,
 *                                   payload = u8 event index (EVENT_NAMES) ++ full record bytes
 *   ack                             decimal offset of the first record not yet acknowledged
 *
 * Offsets number records across segments and restarts. A segment is deleted once every record
 * in it is acknowledged. The ack file is replaced (write + rename) after each acknowledged
 * batch but not fsynced: a power loss can only move it back, which resends events (duplicates
 * that consumers drop by event id), never skips them.
 *
 * Durability of appends (`fsync`): `batch` fdatasyncs the segment once per `append` call
 * before the caller is told the events are durable, so they survive a power loss; `none`
 * leaves them in the page cache, which survives a crash or SIGKILL of the agent but not of the
 * machine. docs/kafka.md gives the measured cost of each.
 *
 * Cap: when the segments hold more than `maxBytes`, whole segments are dropped, oldest first,
 * and the number of unacknowledged events dropped is returned so the agent can record the
 * loss (AgentEvent LOSS SPOOL_OVERFLOW).
 *
 * On open, every segment is read and checked; a record whose length or checksum does not hold
 * (the torn tail a SIGKILL or power loss leaves) ends its segment, which is truncated there.
 */
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';

import { PidstreamError } from '../common/errors.js';
import type { StampedEvent } from '../ingest/sequencer.js';
import { EVENT_NAMES, type EventName } from '../schemas/index.js';

export type FsyncPolicy = 'batch' | 'none';

export interface SpoolOptions {
  dir: string;
  /** Cap on the bytes of all segments; beyond it the oldest segments are dropped. */
  maxBytes: number;
  fsync: FsyncPolicy;
}

export interface SpoolRecord {
  offset: number;
  name: EventName;
  /** The full Avro record of the event. */
  bytes: Buffer;
}

/** What opening the spool found on disk. */
export interface SpoolRecovery {
  /** Records not yet acknowledged: they will be sent first. */
  pending: number;
  /** Bytes cut from segment tails that did not check out (a torn write or damage). */
  truncatedBytes: number;
}

const RECORD_HEADER = 8;
/**
 * Largest event the spool accepts: it must fit in one Kafka record batch under the broker's
 * default message.max.bytes (1 MiB) with room for the batch's own headers.
 */
export const MAX_RECORD_BYTES = 768 * 1024;
const SEGMENT_MIN_BYTES = 64 * 1024;
const SEGMENT_MAX_BYTES = 16 * 1024 * 1024;
/** The cap is split into at least this many segments so that dropping one drops little. */
const SEGMENTS_PER_CAP = 8;
/** Bytes read from a segment per call when the sender reads back. */
const READ_CHUNK_BYTES = 4 * 1024 * 1024;

const NAME_INDEX = new Map<EventName, number>(EVENT_NAMES.map((name, i) => [name, i]));

interface Segment {
  first: number;
  count: number;
  size: number;
  path: string;
}

interface Cursor {
  segment: Segment;
  pos: number;
  offset: number;
}

function segmentName(first: number): string {
  return `${String(first).padStart(20, '0')}.seg`;
}

export class Spool {
  readonly dir: string;
  readonly maxBytes: number;
  readonly fsync: FsyncPolicy;
  readonly segmentBytes: number;
  readonly recovery: SpoolRecovery;
  #segments: Segment[] = [];
  #activeFd = -1;
  #readFd = -1;
  #readSegment: Segment | null = null;
  #bytes = 0;
  /** First offset not yet acknowledged, and where it lies. */
  #ack: Cursor;
  /** Next record the sender reads. */
  #cursor: Cursor;
  /**
   * Where each `read` since the last rewind ended, by offset: a sender with several batches in
   * flight acknowledges them behind the read cursor, and finding an offset by walking record
   * headers costs a read per record.
   */
  #readEnds = new Map<number, Cursor>();
  /** Segments written since the last sync; their file descriptors are fsynced by `sync`. */
  #dirty = new Set<number>();
  #dirDirty = false;

  private constructor(options: SpoolOptions) {
    this.dir = options.dir;
    this.maxBytes = options.maxBytes;
    this.fsync = options.fsync;
    this.segmentBytes = Math.max(
      SEGMENT_MIN_BYTES,
      Math.min(SEGMENT_MAX_BYTES, Math.floor(options.maxBytes / SEGMENTS_PER_CAP)),
    );
    mkdirSync(this.dir, { recursive: true });
    const ackOffset = this.#readAckFile();
    const truncatedBytes = this.#recoverSegments();
    if (this.#segments.length === 0) this.#newSegment(ackOffset);
    this.#ack = this.#locate(ackOffset);
    this.#cursor = { ...this.#ack };
    this.#openActive();
    this.#deleteAcknowledged();
    this.recovery = { pending: this.pending, truncatedBytes };
  }

  /** Opens (creating if needed) the spool in `options.dir` and checks what it holds. */
  static open(options: SpoolOptions): Spool {
    if (!(options.maxBytes >= SEGMENT_MIN_BYTES * 2)) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_CONFIG',
        `spool cap ${options.maxBytes} bytes is too small; expected at least ${SEGMENT_MIN_BYTES * 2}`,
      );
    }
    try {
      return new Spool(options);
    } catch (err) {
      if (err instanceof PidstreamError) throw err;
      throw new PidstreamError('PIDSTREAM_ERR_SPOOL', `opening the spool in ${options.dir}`, {
        cause: err,
      });
    }
  }

  /** Events appended and not yet acknowledged. */
  get pending(): number {
    return this.endOffset - this.#ack.offset;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /** The next record `read` returns. */
  get readOffset(): number {
    return this.#cursor.offset;
  }

  get ackOffset(): number {
    return this.#ack.offset;
  }

  get endOffset(): number {
    const last = this.#segments[this.#segments.length - 1] as Segment;
    return last.first + last.count;
  }

  /**
   * Appends events in order. Returns how many unacknowledged events the cap forced out
   * (0 almost always). With `fsync: 'batch'`, call `sync()` before telling anyone the events
   * are durable.
   */
  append(events: readonly StampedEvent[]): number {
    if (events.length === 0) return 0;
    let size = 0;
    for (const event of events) size += RECORD_HEADER + checkedLength(event);
    // One buffer for the whole append, each record written in place: a buffer per record and a
    // concat cost about a third of the append (bench:kafka).
    const data = Buffer.allocUnsafe(size);
    let at = 0;
    for (const event of events) at = encodeRecord(event, data, at);
    const active = this.#segments[this.#segments.length - 1] as Segment;
    this.#write(data);
    active.count += events.length;
    active.size += size;
    this.#bytes += size;
    if (active.size >= this.segmentBytes) this.#roll();
    return this.#enforceCap();
  }

  /** Makes every append so far durable on disk (a no-op with `fsync: 'none'`). */
  async sync(): Promise<void> {
    if (this.fsync === 'none' || (this.#dirty.size === 0 && !this.#dirDirty)) return;
    const fds = [...this.#dirty];
    this.#dirty.clear();
    await Promise.all(fds.map((fd) => fdatasyncAsync(fd)));
    if (this.#dirDirty) {
      this.#dirDirty = false;
      const dirFd = openSync(this.dir, 'r');
      try {
        fsyncSync(dirFd);
      } finally {
        closeSync(dirFd);
      }
    }
  }

  /** Up to `maxRecords` records (and about `maxBytes`) from the read cursor on, in order. */
  read(maxRecords: number, maxBytes: number): SpoolRecord[] {
    const out: SpoolRecord[] = [];
    let bytes = 0;
    this.#reviveCursor();
    while (out.length < maxRecords && bytes < maxBytes) {
      const cursor = this.#cursor;
      if (cursor.pos >= cursor.segment.size) {
        const next = this.#segments[this.#segments.indexOf(cursor.segment) + 1];
        if (next === undefined) break;
        this.#cursor = { segment: next, pos: 0, offset: next.first };
        continue;
      }
      const chunk = this.#readChunk(cursor.segment, cursor.pos, maxBytes - bytes);
      let at = 0;
      while (at + RECORD_HEADER <= chunk.length && out.length < maxRecords && bytes < maxBytes) {
        const length = chunk.readUInt32LE(at);
        if (at + RECORD_HEADER + length > chunk.length) break;
        const payload = chunk.subarray(at + RECORD_HEADER, at + RECORD_HEADER + length);
        out.push({
          offset: cursor.offset,
          name: EVENT_NAMES[payload[0] as number] as EventName,
          bytes: payload.subarray(1),
        });
        at += RECORD_HEADER + length;
        bytes += length;
        cursor.offset += 1;
      }
      cursor.pos += at;
    }
    if (out.length > 0) this.#readEnds.set(this.#cursor.offset, { ...this.#cursor });
    return out;
  }

  /** Moves the read cursor back to the first unacknowledged record: everything after is resent. */
  rewind(): void {
    this.#cursor = { ...this.#ack };
    this.#readEnds.clear();
  }

  /** Records everything before `nextOffset` as acknowledged by Kafka. */
  ack(nextOffset: number): void {
    if (nextOffset <= this.#ack.offset) return;
    if (nextOffset > this.endOffset) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_SPOOL',
        `acknowledging up to offset ${nextOffset} beyond the spool's end ${this.endOffset}`,
      );
    }
    // Acknowledging where a read ended is the common case: the read remembered the position.
    const known =
      this.#cursor.offset === nextOffset ? this.#cursor : this.#readEnds.get(nextOffset);
    this.#ack =
      known !== undefined && this.#segments.includes(known.segment)
        ? { ...known }
        : this.#locate(nextOffset);
    for (const offset of this.#readEnds.keys()) {
      if (offset > nextOffset) break;
      this.#readEnds.delete(offset);
    }
    const tmp = join(this.dir, 'ack.tmp');
    writeFileSync(tmp, String(nextOffset));
    renameSync(tmp, join(this.dir, 'ack'));
    this.#deleteAcknowledged();
  }

  close(): void {
    for (const fd of [this.#activeFd, this.#readFd]) if (fd >= 0) closeSync(fd);
    this.#activeFd = -1;
    this.#readFd = -1;
    this.#readSegment = null;
  }

  /** Deletes the spool's directory and everything in it; only after `close`. */
  remove(): void {
    if (this.#activeFd >= 0) {
      throw new PidstreamError('PIDSTREAM_ERR_SPOOL', `removing the open spool in ${this.dir}`);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }

  #readAckFile(): number {
    let text: string;
    try {
      text = readFileSync(join(this.dir, 'ack'), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
    const value = Number(text.trim());
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_SPOOL',
        `reading ${join(this.dir, 'ack')}: '${text.trim()}' is not an offset`,
      );
    }
    return value;
  }

  /** Loads and checks every segment; returns the bytes cut from damaged tails. */
  #recoverSegments(): number {
    const names = readdirSync(this.dir)
      .filter((n) => /^\d{20}\.seg$/.test(n))
      .sort();
    let truncated = 0;
    for (const name of names) {
      const path = join(this.dir, name);
      const data = readFileSync(path);
      let at = 0;
      let count = 0;
      while (at + RECORD_HEADER <= data.length) {
        const length = data.readUInt32LE(at);
        const end = at + RECORD_HEADER + length;
        if (length < 2 || length > MAX_RECORD_BYTES + 1 || end > data.length) break;
        const payload = data.subarray(at + RECORD_HEADER, end);
        if (crc32(payload) !== data.readUInt32LE(at + 4)) break;
        if ((payload[0] as number) >= EVENT_NAMES.length) break;
        at = end;
        count += 1;
      }
      if (at < data.length) {
        truncated += data.length - at;
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, at);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
      const first = Number(name.slice(0, 20));
      this.#segments.push({ first, count, size: at, path });
      this.#bytes += at;
    }
    return truncated;
  }

  /** The cursor at `offset`, found by walking the record headers of its segment. */
  #locate(offset: number): Cursor {
    const head = this.#segments[0] as Segment;
    if (offset <= head.first) return { segment: head, pos: 0, offset: head.first };
    for (const segment of this.#segments) {
      if (offset >= segment.first + segment.count) continue;
      if (offset <= segment.first) return { segment, pos: 0, offset: segment.first };
      let pos = 0;
      const header = Buffer.alloc(4);
      const fd = openSync(segment.path, 'r');
      try {
        for (let o = segment.first; o < offset; o++) {
          readSync(fd, header, 0, 4, pos);
          pos += RECORD_HEADER + header.readUInt32LE(0);
        }
      } finally {
        closeSync(fd);
      }
      return { segment, pos, offset };
    }
    const last = this.#segments[this.#segments.length - 1] as Segment;
    return { segment: last, pos: last.size, offset: last.first + last.count };
  }

  #reviveCursor(): void {
    if (!this.#segments.includes(this.#cursor.segment)) this.rewind();
  }

  /** Bytes from `pos`: about `want` (at least one whole record), at most READ_CHUNK_BYTES. */
  #readChunk(segment: Segment, pos: number, want: number): Buffer {
    if (this.#readSegment !== segment) {
      if (this.#readFd >= 0) closeSync(this.#readFd);
      this.#readFd = openSync(segment.path, 'r');
      this.#readSegment = segment;
    }
    const header = Buffer.alloc(4);
    readSync(this.#readFd, header, 0, 4, pos);
    const first = RECORD_HEADER + header.readUInt32LE(0);
    const size = Math.min(segment.size - pos, Math.max(Math.min(want, READ_CHUNK_BYTES), first));
    const chunk = Buffer.allocUnsafe(size);
    const got = readSync(this.#readFd, chunk, 0, size, pos);
    return chunk.subarray(0, got);
  }

  #write(data: Buffer): void {
    let at = 0;
    while (at < data.length) at += writeSync(this.#activeFd, data, at);
    this.#dirty.add(this.#activeFd);
  }

  #newSegment(first: number): void {
    const path = join(this.dir, segmentName(first));
    closeSync(openSync(path, 'a'));
    this.#segments.push({ first, count: 0, size: 0, path });
    this.#dirDirty = true;
  }

  #openActive(): void {
    const active = this.#segments[this.#segments.length - 1] as Segment;
    this.#activeFd = openSync(active.path, 'a');
  }

  #roll(): void {
    // A full segment is flushed here, synchronously, so that `sync` only ever deals with the
    // open one; a roll happens once per `segmentBytes`, so the wait is rare.
    const old = this.#activeFd;
    if (this.fsync === 'batch' && this.#dirty.delete(old)) fdatasyncSync(old);
    closeSync(old);
    this.#newSegment(this.endOffset);
    this.#openActive();
  }

  /** Drops the oldest segments while over the cap; returns the unacknowledged events dropped. */
  #enforceCap(): number {
    let dropped = 0;
    while (this.#bytes > this.maxBytes) {
      if (this.#segments.length === 1) this.#roll();
      const oldest = this.#segments.shift() as Segment;
      const end = oldest.first + oldest.count;
      dropped += Math.max(0, end - Math.max(this.#ack.offset, oldest.first));
      this.#bytes -= oldest.size;
      this.#unlink(oldest);
    }
    if (dropped > 0) this.ack(Math.max(this.#ack.offset, (this.#segments[0] as Segment).first));
    if (!this.#segments.includes(this.#ack.segment)) this.#ack = this.#locate(this.#ack.offset);
    return dropped;
  }

  #deleteAcknowledged(): void {
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0] as Segment;
      if (oldest.first + oldest.count > this.#ack.offset) break;
      this.#segments.shift();
      this.#bytes -= oldest.size;
      this.#unlink(oldest);
    }
  }

  #unlink(segment: Segment): void {
    if (this.#readSegment === segment) {
      closeSync(this.#readFd);
      this.#readFd = -1;
      this.#readSegment = null;
    }
    unlinkSync(segment.path);
  }
}

/** The payload length of the event's record; throws when the event exceeds the record cap. */
function checkedLength(event: StampedEvent): number {
  const length = 1 + event.bytes.length;
  if (length > MAX_RECORD_BYTES + 1) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_SPOOL',
      `spooling ${event.name} seq ${event.seq}: ${event.bytes.length} bytes exceed the ${MAX_RECORD_BYTES}-byte record cap`,
    );
  }
  return length;
}

/** Writes the event's record into `out` at `at`; returns where the next record starts. */
function encodeRecord(event: StampedEvent, out: Buffer, at: number): number {
  const payload = at + RECORD_HEADER;
  const end = payload + 1 + event.bytes.length;
  out.writeUInt32LE(end - payload, at);
  out[payload] = NAME_INDEX.get(event.name) as number;
  event.bytes.copy(out, payload + 1);
  out.writeUInt32LE(crc32(out.subarray(payload, end)), at + 4);
  return end;
}

function fdatasyncAsync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    fdatasync(fd, (err) => (err === null ? resolve() : reject(err)));
  });
}

/** Size on disk of a spool directory's segments, for tests and status lines. */
export function spoolDiskBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    if (name.endsWith('.seg')) total += statSync(join(dir, name)).size;
  }
  return total;
}
