/**
 * The embedded default sink: rotating Avro Object Container Files in one directory.
 *
 * - One schema per file: the union `[ProcessExit, Coredump, AgentEvent]` (schemas/index.ts);
 *   each record is its union branch number followed by the event's full record bytes.
 * - Codec deflate. A block holds up to BLOCK_MAX_RECORD_BYTES of records; it is written with
 *   one write() to a file opened O_DSYNC (the write returns once the block is on the disk, as
 *   write + fdatasync would, in one trip to libuv's thread pool instead of two), so a file is
 *   readable up to its last complete block while it is still being written. A block is
 *   compressed on the calling thread at zlib level 1.
 * - Durability: `write()` adds events to the block being filled; the block reaches the disk,
 *   synced, when it is full, at the latest `syncIntervalMs` after its first event, and at every
 *   `flush()` and `close()`. What a crash of the process can lose is the unwritten blocks only,
 *   at most `syncIntervalMs` of events; `write()` resolves when they are in memory.
 * - Tools (replay, synth) may ask for `syncEachBlock: false`: blocks are written as they fill
 *   and synced every `syncIntervalMs` and at `flush()` and `close()`, so a crash of the
 *   machine, not of the process, can lose up to that interval. One fdatasync per 64 KB block
 *   held a replay at about a third of what the disk takes (bench:replay).
 * - A block of another file written with the same schema and codec, handed over whole and
 *   unchanged (a replay that passes a block through), is written with its compressed bytes as
 *   they were instead of being deflated anew.
 * - Rotation: a new file when the next block would take the current one past `maxBytes`, and
 *   when the current one is `maxAgeMs` old. A file is created with its first block, so no file
 *   is ever empty; names sort by the time of their first event, then its seq:
 *   `pidstream-20261203T192626.123456Z-000000000042.avro`, mode 0640.
 */
import { randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';

import { PidstreamError } from '../common/errors.js';
import { encodeLong, type StampedEvent } from '../ingest/sequencer.js';
import { EVENT_NAMES, type EventName, fileSchemaJson, UNION_INDEX } from '../schemas/index.js';
import { eventTimeUs, isoMicros } from './event-time.js';
import { encodeBlockPrefix, encodeHeader, type ReusableBlock, SYNC_SIZE } from './ocf.js';
import type { EventSink } from './types.js';

export const DEFAULT_MAX_FILE_BYTES = 64 * 1024 * 1024;
export const DEFAULT_MAX_FILE_AGE_MS = 60 * 60 * 1000;
export const DEFAULT_SYNC_INTERVAL_MS = 1000;
/** Uncompressed record bytes per block: the Avro libraries' customary 64 KB sync interval. */
export const BLOCK_MAX_RECORD_BYTES = 64 * 1024;
export const FILE_MODE = 0o640;
export const DIR_MODE = 0o750;
export const FILE_PREFIX = 'pidstream-';
export const FILE_SUFFIX = '.avro';
/** Digits of the seq in a file name, zero-padded so that names sort as numbers. */
const SEQ_DIGITS = 12;
/** Attempts at a free name when a file of the same name exists (a restart in the same µs). */
const NAME_ATTEMPTS = 1000;

/**
 * zlib level 1: a block of ProcessExit records compresses 5.35:1 instead of 5.52:1 at the
 * default level 6, for half the CPU (1.2 instead of 2.6 µs a record, measured on the blocks
 * bench:exits writes). The block is compressed on the calling thread, 0.3–0.6 ms for 64 KB:
 * handing it to libuv's pool and back cost another 0.15–0.2 ms of CPU, two threads woken.
 */
export const DEFLATE_LEVEL = 1;
/** Create, write only, fail if it exists. */
const CREATE_FLAGS = fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_EXCL;

/** The union branch number of each event, as Avro writes it (a zig-zag varint), built once. */
const BRANCH_PREFIX = Object.fromEntries(
  EVENT_NAMES.map((name) => [name, encodeLong(UNION_INDEX[name])]),
) as Record<EventName, Buffer>;

/**
 * A stamped event that may carry the block of a container file it was read from: when a
 * block's events reach the sink in order with nothing between them, its compressed bytes are
 * reused.
 */
export interface BlockEvent extends StampedEvent {
  block?: ReusableBlock | null;
}

export interface AvroFileSinkOptions {
  dir: string;
  maxBytes?: number;
  maxAgeMs?: number;
  syncIntervalMs?: number;
  /** fdatasync after every block (the agent's default), or only every `syncIntervalMs`. */
  syncEachBlock?: boolean;
  /** Wall-clock milliseconds, for file ages; tests drive it instead of waiting. */
  now?: () => number;
}

interface PendingBlock {
  parts: Buffer[];
  bytes: number;
  count: number;
  firstTimeUs: number;
  firstSeq: number;
  /**
   * The source block whose records this block has been, byte for byte, from its first record
   * on; null once anything else joined. When the block holds all of them, its data is reused.
   */
  source: ReusableBlock | null;
  /** The compressed data to write, when it can be reused. */
  deflated: Buffer | null;
}

interface OpenFile {
  path: string;
  handle: FileHandle;
  sync: Buffer;
  bytes: number;
  openedAt: number;
}

/** `yyyymmddThhmmss.uuuuuuZ` in UTC, from wall-clock microseconds. */
export function fileTimestamp(us: number): string {
  return isoMicros(us).replace(/[-:]/g, '');
}

export function fileName(firstTimeUs: number, firstSeq: number): string {
  const seq = String(firstSeq).padStart(SEQ_DIGITS, '0');
  return `${FILE_PREFIX}${fileTimestamp(firstTimeUs)}-${seq}${FILE_SUFFIX}`;
}

/** A failure to write, naming the action and the path, with the underlying error as cause. */
function sinkError(action: string, err: unknown): PidstreamError {
  const message = err instanceof Error ? err.message : String(err);
  return new PidstreamError('PIDSTREAM_ERR_SINK', `${action}: ${message}`, { cause: err });
}

export class AvroFileSink implements EventSink {
  readonly dir: string;
  readonly maxBytes: number;
  readonly maxAgeMs: number;
  readonly syncIntervalMs: number;
  readonly syncEachBlock: boolean;
  /** Every file this sink created, in order. */
  readonly files: string[] = [];
  readonly #now: () => number;
  readonly #header: (sync: Buffer) => Buffer;
  #file: OpenFile | null = null;
  /** The block being filled, and full blocks waiting for their turn on the chain. */
  #filling: PendingBlock | null = null;
  readonly #sealed: PendingBlock[] = [];
  #lastNameUs = Number.NEGATIVE_INFINITY;
  /** File operations run one after another on this chain; a failure stays on it. */
  #chain: Promise<void> = Promise.resolve();
  #timer: NodeJS.Timeout | null = null;
  /** Blocks written since the last fdatasync, when blocks are not synced one by one. */
  #unsynced = false;
  #started = false;
  #closed = false;

  constructor(options: AvroFileSinkOptions) {
    for (const key of ['maxBytes', 'maxAgeMs', 'syncIntervalMs'] as const) {
      const value = options[key];
      if (value !== undefined && !(Number.isFinite(value) && value > 0)) {
        throw new RangeError(`AvroFileSink ${key} must be a positive number, not ${value}`);
      }
    }

    this.dir = options.dir;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_FILE_BYTES;
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_MAX_FILE_AGE_MS;
    this.syncIntervalMs = options.syncIntervalMs ?? DEFAULT_SYNC_INTERVAL_MS;
    this.syncEachBlock = options.syncEachBlock ?? true;
    this.#now = options.now ?? Date.now;
    const schema = fileSchemaJson();
    this.#header = (sync) => encodeHeader(schema, 'deflate', sync);
  }

  /** Creates the directory; `write()` does it too when `open()` was not called. */
  async open(): Promise<void> {
    this.#started = true;
    try {
      await mkdir(this.dir, { recursive: true, mode: DIR_MODE });
    } catch (err) {
      throw sinkError(`creating ${this.dir}`, err);
    }
    if (!this.#closed) {
      this.#timer ??= setInterval(() => this.#tick(), this.syncIntervalMs).unref();
    }
  }

  write(events: readonly StampedEvent[]): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    if (!this.#started) {
      this.#started = true;
      this.#enqueue(() => this.open());
    }
    let full = false;
    try {
      for (const event of events) full = this.#add(event) || full;
    } catch (err) {
      return Promise.reject(err);
    }
    // Waiting on the disk only when a block was due is the backpressure: a producer faster
    // than the disk waits here instead of growing the sealed queue without bound.
    return full ? this.#enqueue(() => this.#writeSealed()) : this.#enqueue(async () => {});
  }

  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(this.#closedError());
    this.#seal();
    return this.#enqueue(async () => {
      await this.#writeSealed();
      await this.#syncFile();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#seal();
    await this.#enqueue(async () => {
      // Cleared on the chain, after an open() queued before close() may have started the timer.
      if (this.#timer !== null) clearInterval(this.#timer);
      this.#timer = null;
      await this.#writeSealed();
      await this.#closeFile();
    });
  }

  /** Adds one event to the block being filled; true when that sealed the block. */
  #add(event: BlockEvent): boolean {
    const branch = BRANCH_PREFIX[event.name];
    const block = this.#filling ?? this.#startBlock(event);
    if (block.source !== null && !continuesSource(block, event, branch.length)) {
      block.source = null;
    }
    block.parts.push(branch, event.bytes);
    block.bytes += branch.length + event.bytes.length;
    block.count++;
    const source = block.source;
    if (source !== null && block.count === source.count && block.bytes === source.records.length) {
      block.deflated = source.deflated;
      this.#seal();
      return true;
    }
    if (block.bytes < BLOCK_MAX_RECORD_BYTES) return false;
    this.#seal();
    return true;
  }

  #startBlock(first: BlockEvent): PendingBlock {
    const block: PendingBlock = {
      parts: [],
      bytes: 0,
      count: 0,
      firstTimeUs: eventTimeUs(first.bytes),
      firstSeq: first.seq,
      source: first.block ?? null,
      deflated: null,
    };
    this.#filling = block;
    return block;
  }

  #seal(): void {
    if (this.#filling === null) return;
    this.#sealed.push(this.#filling);
    this.#filling = null;
  }

  #closedError(): PidstreamError {
    return new PidstreamError('PIDSTREAM_ERR_SINK', `writing to ${this.dir}: the sink is closed`);
  }

  #enqueue(step: () => Promise<void>): Promise<void> {
    this.#chain = this.#chain.then(step);
    return this.#chain;
  }

  /** The timer: the block being filled goes out, an old file is closed even when nothing arrives. */
  #tick(): void {
    this.#seal();
    this.#enqueue(async () => {
      await this.#writeSealed();
      await this.#syncFile();
      if (this.#file !== null && this.#now() - this.#file.openedAt >= this.maxAgeMs) {
        await this.#closeFile();
      }
    }).catch(() => {
      // The failure stays on the chain: the next write(), flush() or close() rejects with it,
      // and its caller (the agent's loop) reports it once.
    });
  }

  async #writeSealed(): Promise<void> {
    for (let block = this.#sealed.shift(); block !== undefined; block = this.#sealed.shift()) {
      await this.#writeBlock(block);
    }
  }

  async #writeBlock(block: PendingBlock): Promise<void> {
    const count = block.count;
    const data =
      block.deflated ??
      deflateRawSync(Buffer.concat(block.parts, block.bytes), { level: DEFLATE_LEVEL });
    const prefix = encodeBlockPrefix(count, data.length);
    const blockBytes = prefix.length + data.length + SYNC_SIZE;
    const file = this.#file;
    if (file !== null) {
      const tooBig = file.bytes + blockBytes > this.maxBytes;
      if (tooBig || this.#now() - file.openedAt >= this.maxAgeMs) await this.#closeFile();
    }
    const target = this.#file ?? (await this.#openFile(block.firstTimeUs, block.firstSeq));
    await this.#append(target, Buffer.concat([prefix, data, target.sync]));
    if (target.bytes >= this.maxBytes) await this.#closeFile();
  }

  async #append(file: OpenFile, bytes: Buffer): Promise<void> {
    try {
      let at = 0;
      // With syncEachBlock the file is O_DSYNC: each write returns once its bytes are durable.
      while (at < bytes.length) at += (await file.handle.write(bytes, at)).bytesWritten;
      if (!this.syncEachBlock) this.#unsynced = true;
    } catch (err) {
      throw sinkError(`writing a block to ${file.path}`, err);
    }
    file.bytes += bytes.length;
  }

  /** Syncs the open file when blocks went to it unsynced. */
  async #syncFile(): Promise<void> {
    const file = this.#file;
    if (!this.#unsynced || file === null) return;
    this.#unsynced = false;
    try {
      await file.handle.datasync();
    } catch (err) {
      throw sinkError(`syncing ${file.path}`, err);
    }
  }

  async #openFile(firstTimeUs: number, firstSeq: number): Promise<OpenFile> {
    let nameUs = Math.max(firstTimeUs, this.#lastNameUs + 1);
    for (let attempt = 0; attempt < NAME_ATTEMPTS; attempt++, nameUs++) {
      const path = join(this.dir, fileName(nameUs, firstSeq));
      let handle: FileHandle;
      try {
        // O_DSYNC when every block is synced: each write is durable (data and the size it needs).
        const flags = this.syncEachBlock ? CREATE_FLAGS | fsConstants.O_DSYNC : CREATE_FLAGS;
        handle = await open(path, flags, FILE_MODE);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
        throw sinkError(`creating ${path}`, err);
      }
      this.#lastNameUs = nameUs;
      const file: OpenFile = {
        path,
        handle,
        sync: randomBytes(SYNC_SIZE),
        bytes: 0,
        openedAt: this.#now(),
      };
      // The umask must not widen or narrow the documented mode.
      await handle.chmod(FILE_MODE);
      await this.#append(file, this.#header(file.sync));
      await this.#syncDirectory();
      this.#file = file;
      this.files.push(path);
      return file;
    }
    throw new PidstreamError(
      'PIDSTREAM_ERR_SINK',
      `creating a file in ${this.dir}: ${NAME_ATTEMPTS} names taken`,
    );
  }

  /** A new file's directory entry is made durable once, when the file is created. */
  async #syncDirectory(): Promise<void> {
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  async #closeFile(): Promise<void> {
    const file = this.#file;
    if (file === null) return;
    await this.#syncFile();
    this.#file = null;
    try {
      await file.handle.close();
    } catch (err) {
      throw sinkError(`closing ${file.path}`, err);
    }
  }
}

/**
 * Whether `event`, added to `block` now, keeps the block identical to the leading records of
 * its source block: the event is read from that block, and its bytes begin right after the
 * records so far and their union branch.
 */
function continuesSource(block: PendingBlock, event: BlockEvent, branchBytes: number): boolean {
  const source = block.source as ReusableBlock;
  if (event.block !== source) return false;
  const records = source.records;
  if (event.bytes.buffer !== records.buffer) return false;
  return event.bytes.byteOffset - records.byteOffset === block.bytes + branchBytes;
}
