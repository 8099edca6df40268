/**
 * Reads pidstream events back from Avro Object Container Files: one file, or every `*.avro`
 * file of a directory in name order (the sink's names sort by time, then seq).
 *
 * The reader frames blocks itself (streams/ocf.ts) rather than through avsc's BlockDecoder
 * because it must tell a complete file from one that ends inside a block (a file still being
 * written, or one whose writer died mid-block): that tail is skipped and reported in
 * `partialTails`, never decoded and never an error. Records keep their exact bytes, which the
 * hash chain of the stamps is computed over. A file written with an older version of an event
 * schema is resolved to the current one and re-encoded; its stamps' digests then no longer
 * match those bytes, so a chain verifier must read such files with their own writer schema.
 *
 * Reading is by block: up to INFLATE_AHEAD blocks are inflated at once on libuv's thread pool
 * while the caller works on the previous ones, and each record is found by skipping its fields
 * (streams/avro-skip.ts) rather than decoding them; only its `time` is read.
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';

import avro from 'avsc';

import { PidstreamError } from '../common/errors.js';
import { type EventName, eventNameOfRecord, eventType, fileSchemaJson } from '../schemas/index.js';
import { FILE_SUFFIX } from './avro-file-sink.js';
import { readVarLong, type RecordSkipper, recordSkipperAround, skipVarint } from './avro-skip.js';
import {
  decodeBlock,
  decodeHeader,
  type OcfBlock,
  type OcfHeader,
  readLong,
  type ReusableBlock,
} from './ocf.js';
import type { EventSource, ReadEvent } from './types.js';

/** Bytes read from a file at a time. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/** Cap on one block (compressed) the reader will hold: larger claims are treated as damage. */
export const READ_BLOCK_MAX_BYTES = 256 * 1024 * 1024;
/**
 * Blocks being inflated at once, ahead of the caller: enough to keep libuv's four pool threads
 * busy while the main thread works on earlier blocks, at about 64 KB of records each.
 */
export const INFLATE_AHEAD = 8;

const inflate = promisify(inflateRaw);

export interface PartialTail {
  file: string;
  /** Bytes after the last complete block. */
  bytes: number;
}

export interface AvroFileSourceOptions {
  /**
   * Called with the error when one file cannot be read; the source then goes on with the next
   * file. Without it, the error ends the iteration.
   */
  onUnreadable?: (err: PidstreamError) => void;
}

/** How to read one branch of a file's schema. */
interface Branch {
  name: EventName;
  writer: avro.Type;
  /** Set when the writer's schema differs from the current one. */
  resolver: avro.Resolver | null;
  /** Finds a record's end around its `time`; null when records are re-encoded (resolver). */
  skipper: RecordSkipper | null;
}

/** An event read from a file, with the block it came from when that block can be reused. */
export interface FileReadEvent extends ReadEvent {
  block: ReusableBlock | null;
}

/** One block of a file: its events in order. */
export type FileBlock = FileReadEvent[];

/** A block whose inflate has started; the outcome is held so a failure waits its turn. */
interface Inflating {
  found: OcfBlock;
  number: number;
  records: Promise<{ ok: Buffer } | { error: unknown }>;
}

export class AvroFileSource implements EventSource {
  readonly path: string;
  readonly partialTails: PartialTail[] = [];
  readonly #onUnreadable: ((err: PidstreamError) => void) | undefined;
  #closed = false;

  constructor(path: string, options: AvroFileSourceOptions = {}) {
    this.path = path;
    this.#onUnreadable = options.onUnreadable;
  }

  /** The files this source reads, in order. */
  async files(): Promise<string[]> {
    try {
      if (!(await stat(this.path)).isDirectory()) return [this.path];
      const entries = await readdir(this.path, { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && e.name.endsWith(FILE_SUFFIX))
        .map((e) => e.name)
        .sort()
        .map((name) => join(this.path, name));
    } catch (err) {
      throw sourceError(this.path, err);
    }
  }

  async *events(): AsyncGenerator<FileReadEvent> {
    for await (const block of this.blocks()) yield* block;
  }

  /** The events block by block, each block's events in one array. */
  async *blocks(): AsyncGenerator<FileBlock> {
    for (const file of await this.files()) {
      if (this.#closed) return;
      try {
        yield* this.#readFile(file);
      } catch (err) {
        const wrapped = sourceError(file, err);
        if (this.#onUnreadable === undefined) throw wrapped;
        this.#onUnreadable(wrapped);
      }
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  async *#readFile(file: string): AsyncGenerator<FileBlock> {
    const handle = await open(file, 'r');
    const inflating: Inflating[] = [];
    try {
      let data = Buffer.alloc(0);
      let header: OcfHeader | null = null;
      let writer: WriterSchema = { union: false, reusable: false, branches: [] };
      let number = 0;
      /** Offset in the file of `data[0]`. */
      let offset = 0;
      let ended = false;
      for (;;) {
        if (header === null) {
          header = decodeHeader(data);
          if (header !== null) {
            writer = writerSchemaOf(header.schema, header.codec);
            data = data.subarray(header.length);
            offset = header.length;
          }
        }
        while (header !== null && inflating.length < INFLATE_AHEAD) {
          const found = blockAt(data, header.sync, number, offset);
          if (found === null) break;
          inflating.push({ found, number, records: settled(decompress(header.codec, found.data)) });
          data = data.subarray(found.end);
          offset += found.end;
          number++;
        }
        const next = inflating[0];
        if (next !== undefined && (ended || inflating.length >= INFLATE_AHEAD)) {
          inflating.shift();
          const records = await next.records;
          if ('error' in records) throw records.error;
          yield blockOf(records.ok, next.found, writer, `${file}:${next.number}`);
          continue;
        }
        if (ended) break;
        if (data.length > READ_BLOCK_MAX_BYTES) {
          throw new RangeError(`block ${number} is larger than ${READ_BLOCK_MAX_BYTES} bytes`);
        }
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK_BYTES, null);
        if (bytesRead === 0) ended = true;
        else if (data.length === 0) data = chunk.subarray(0, bytesRead);
        else data = Buffer.concat([data, chunk.subarray(0, bytesRead)]);
      }
      if (data.length > 0 || header === null) {
        this.partialTails.push({ file, bytes: data.length });
      }
    } finally {
      await Promise.all(inflating.map((i) => i.records));
      await handle.close();
    }
  }
}

/** The outcome of `work`, never a rejection: read in order, a failure is thrown in its turn. */
function settled<T>(work: Promise<T>): Promise<{ ok: T } | { error: unknown }> {
  return work.then(
    (ok) => ({ ok }),
    (error: unknown) => ({ error }),
  );
}

function sourceError(file: string, err: unknown): PidstreamError {
  if (err instanceof PidstreamError) return err;
  const io = (err as NodeJS.ErrnoException).code !== undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new PidstreamError(
    io ? 'PIDSTREAM_ERR_SOURCE' : 'PIDSTREAM_ERR_DECODE',
    `reading ${file}: ${message}`,
    { cause: err },
  );
}

/** The next block, with its number and file offset in the message when it is damaged. */
function blockAt(data: Buffer, sync: Buffer, block: number, offset: number): OcfBlock | null {
  try {
    return decodeBlock(data, 0, sync);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    throw new RangeError(`block ${block} at byte ${offset}: ${message}`, { cause: err });
  }
}

async function decompress(codec: string, data: Buffer): Promise<Buffer> {
  if (codec === 'deflate') return inflate(data);
  if (codec === 'null') return data;
  throw new RangeError(`codec '${codec}' is not supported (deflate and null are)`);
}

/**
 * A file's schema as the reader uses it; `union` says whether records carry a branch number,
 * `reusable` whether its blocks are what pidstream's sink would write (same schema, deflate).
 */
interface WriterSchema {
  union: boolean;
  reusable: boolean;
  branches: Branch[];
}

/** The schema pidstream's sink writes, as its header holds it. */
let currentFileSchema: string | null = null;

const writerTypes = new Map<string, WriterSchema>();
/** Distinct writer schemas kept compiled; a reader meets a handful, one per schema version. */
const WRITER_TYPES_MAX = 64;

/** The branches of a file's schema: a union of event records, or a single event record. */
function writerSchemaOf(schema: unknown, codec: string): WriterSchema {
  const key = JSON.stringify(schema);
  const known = writerTypes.get(key);
  if (known !== undefined) return reusableWith(known, codec);
  // avsc refuses a union of records as an unwrapped union (records cannot be told apart by
  // their JavaScript value), so each branch is compiled on its own; the shared registry lets a
  // later branch refer to named types an earlier one defined.
  const union = Array.isArray(schema);
  const registry = {};
  const records = (union ? schema : [schema]).map((branch) =>
    avro.Type.forSchema(branch as avro.Schema, { wrapUnions: false, registry }),
  );
  const branches = records.map((writer) => {
    const name = eventNameOfRecord(writer.name ?? String(writer.typeName));
    const current = eventType(name);
    const resolver = current.equals(writer) ? null : current.createResolver(writer);
    const skipper = resolver === null ? recordSkipperAround(writer, 'time') : null;
    return { name, writer, resolver, skipper };
  });
  currentFileSchema ??= JSON.stringify(fileSchemaJson());
  const reusable = union && key === currentFileSchema;
  if (writerTypes.size >= WRITER_TYPES_MAX) writerTypes.clear();
  const compiled = { union, reusable, branches };
  writerTypes.set(key, compiled);
  return reusableWith(compiled, codec);
}

function reusableWith(schema: WriterSchema, codec: string): WriterSchema {
  return schema.reusable && codec !== 'deflate' ? { ...schema, reusable: false } : schema;
}

function blockOf(
  data: Buffer,
  found: OcfBlock,
  { union, reusable, branches }: WriterSchema,
  position: string,
): FileBlock {
  const count = found.count;
  const block = reusable ? { records: data, deflated: found.data, count } : null;
  const events: FileBlock = [];
  let at = 0;
  for (let i = 0; i < count; i++) {
    let branch = branches[0];
    if (union) {
      const index = readLong(data, at);
      branch = index === null ? undefined : branches[index.value];
      if (index === null || branch === undefined) {
        throw new RangeError(`block ${position}: record ${i} has no valid union branch`);
      }
      at = index.end;
    }
    const { bytes, timeUs, end } = recordAt(data, at, branch as Branch);
    if (end > data.length || Number.isNaN(timeUs)) {
      throw new RangeError(`block ${position}: record ${i} of ${count} runs past the block`);
    }
    events.push({ name: (branch as Branch).name, bytes, timeUs, position, block });
    at = end;
  }
  return events;
}

/** The record at `at`: its bytes (in the current schema), its time and where it ends. */
function recordAt(
  data: Buffer,
  at: number,
  { name, writer, resolver, skipper }: Branch,
): { bytes: Buffer; timeUs: number; end: number } {
  if (skipper !== null) {
    const timeAt = skipper.before(data, at);
    const timeUs = readVarLong(data, timeAt);
    const end = skipper.after(data, skipVarint(data, timeAt));
    return { bytes: data.subarray(at, end), timeUs, end };
  }
  const { value, offset } = writer.decode(data, at) as {
    value: { time: number } | undefined;
    offset: number;
  };
  if (value === undefined || offset < 0) return { bytes: data, timeUs: Number.NaN, end: Infinity };
  const current = eventType(name);
  const bytes =
    resolver === null
      ? data.subarray(at, offset)
      : current.toBuffer(current.decode(data, at, resolver).value);
  return { bytes, timeUs: value.time, end: offset };
}
