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
 */
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';

import avro from 'avsc';

import { PidstreamError } from '../common/errors.js';
import { type EventName, eventNameOfRecord, eventType } from '../schemas/index.js';
import { decodeBlock, decodeHeader, type OcfBlock, type OcfHeader, readLong } from './ocf.js';
import { FILE_SUFFIX } from './avro-file-sink.js';
import type { EventSource, ReadEvent } from './types.js';

/** Bytes read from a file at a time. */
export const READ_CHUNK_BYTES = 1024 * 1024;
/** Cap on one block (compressed) the reader will hold: larger claims are treated as damage. */
export const READ_BLOCK_MAX_BYTES = 256 * 1024 * 1024;

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

  async *events(): AsyncGenerator<ReadEvent> {
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

  async *#readFile(file: string): AsyncGenerator<ReadEvent> {
    const handle = await open(file, 'r');
    try {
      let data = Buffer.alloc(0);
      let header: OcfHeader | null = null;
      let writer: WriterSchema = { union: false, branches: [] };
      let block = 0;
      /** Offset in the file of `data[0]`. */
      let offset = 0;
      for (;;) {
        if (header === null) {
          header = decodeHeader(data);
          if (header !== null) {
            writer = writerSchemaOf(header.schema);
            data = data.subarray(header.length);
            offset = header.length;
            continue;
          }
        } else {
          const found = blockAt(data, header.sync, block, offset);
          if (found !== null) {
            const records = await decompress(header.codec, found.data);
            yield* recordsOf(records, found.count, writer, `${file}:${block}`);
            data = data.subarray(found.end);
            offset += found.end;
            block++;
            continue;
          }
        }
        if (data.length > READ_BLOCK_MAX_BYTES) {
          throw new RangeError(`block ${block} is larger than ${READ_BLOCK_MAX_BYTES} bytes`);
        }
        const chunk = Buffer.allocUnsafe(READ_CHUNK_BYTES);
        const { bytesRead } = await handle.read(chunk, 0, READ_CHUNK_BYTES, null);
        if (bytesRead === 0) break;
        data = Buffer.concat([data, chunk.subarray(0, bytesRead)]);
      }
      if (data.length > 0 || header === null) {
        this.partialTails.push({ file, bytes: data.length });
      }
    } finally {
      await handle.close();
    }
  }
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

/** A file's schema as the reader uses it; `union` says whether records carry a branch number. */
interface WriterSchema {
  union: boolean;
  branches: Branch[];
}

const writerTypes = new Map<string, WriterSchema>();
/** Distinct writer schemas kept compiled; a reader meets a handful, one per schema version. */
const WRITER_TYPES_MAX = 64;

/** The branches of a file's schema: a union of event records, or a single event record. */
function writerSchemaOf(schema: unknown): WriterSchema {
  const key = JSON.stringify(schema);
  const known = writerTypes.get(key);
  if (known !== undefined) return known;
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
    return {
      name,
      writer,
      resolver: current.equals(writer) ? null : current.createResolver(writer),
    };
  });
  if (writerTypes.size >= WRITER_TYPES_MAX) writerTypes.clear();
  const compiled = { union, branches };
  writerTypes.set(key, compiled);
  return compiled;
}

function* recordsOf(
  data: Buffer,
  count: number,
  { union, branches }: WriterSchema,
  position: string,
): Generator<ReadEvent> {
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
    const { value, offset } = (branch as Branch).writer.decode(data, at) as {
      value: { time: number } | undefined;
      offset: number;
    };
    if (value === undefined || offset < 0) {
      throw new RangeError(`block ${position}: record ${i} of ${count} runs past the block`);
    }
    const { name, resolver } = branch as Branch;
    const bytes =
      resolver === null
        ? data.subarray(at, offset)
        : eventType(name).toBuffer(eventType(name).decode(data, at, resolver).value);
    yield { name, bytes, timeUs: value.time, position };
    at = offset;
  }
}
