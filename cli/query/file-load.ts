/**
 * The fast way in for Avro container files written with the current schemas. The main thread
 * reads each file into SharedArrayBuffers and finds its blocks; decode workers
 * (decode-worker.ts) inflate and decode runs of blocks in parallel and transfer back chunks
 * laid out as DuckDB's vectors with the dictionary keys they saw first; the main thread only
 * writes those into the tables (table-writer.ts). Blocks are independent of each other, so the
 * runs need no order: the workers' chunks reach the tables in whatever order the runs finish,
 * and rows do not keep the files' order (the views are sets, and every report aggregates).
 *
 * A file written with another schema version goes through AvroFileSource on the main thread,
 * which resolves its records to the current schemas.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { availableParallelism } from 'node:os';

import { Piscina } from 'piscina';

import { PidstreamError } from '../../common/errors.js';
import { distFile } from '../../common/paths.js';
import { fileSchemaJson } from '../../schemas/index.js';
import { AvroFileSource, READ_BLOCK_MAX_BYTES } from '../../streams/avro-file-source.js';
import { blockSpanAt, decodeHeader, type OcfBlockSpan, type OcfHeader } from '../../streams/ocf.js';
import type { ReadEvent } from '../../streams/types.js';
import { canonicalForm } from '../../streams/wire.js';
import type { WarmUpTask } from '../../workers/protocol.js';
import { warmUpTask } from '../../workers/warm-up.js';
import { DICTIONARY_MAX_KEYS } from './decoder.js';
import type {
  DecodeOutput,
  DecodeResult,
  DecodeTask,
  DecodeWorkerData,
} from './decode-protocol.js';

/** Decode workers: one per core, at most this many. */
const MAX_DECODE_WORKERS = 8;
export const DECODE_WORKERS = Math.max(1, Math.min(availableParallelism(), MAX_DECODE_WORKERS));

/** Bytes of a file read at once; the sink's files are at most 64 MiB, so usually the whole. */
const SEGMENT_BYTES = 64 * 1024 * 1024;
/**
 * Compressed bytes per task, about 7,500 events of the benchmark's: enough that a task's
 * message and short last chunks cost little beside the decode, few enough that the main thread
 * always has a result to write while the workers decode the next.
 */
export const TASK_BYTES = 1024 * 1024;
/** Tasks handed to the pool and not yet written: bounds the memory their results hold. */
const TASKS_IN_FLIGHT = 4 * DECODE_WORKERS;
/** How long a worker's warm-up waits for the others before the load goes on without it. */
const WARM_UP_TIMEOUT_MS = 10_000;

export interface Window {
  since: number;
  until: number;
}

export interface FileLoadStats {
  skipped: number;
  /** Bytes after the last complete block of a file (one still being written), not loaded. */
  partialBytes: number;
}

/** One part of a file in shared memory; `offset` is the file offset of its first byte. */
interface Segment {
  data: Buffer;
  offset: number;
}

export interface FileLoadOptions {
  /** Writes one worker's result into the tables. */
  write: (output: DecodeOutput) => void;
  /** Loads one event the main thread read itself (a file of another schema version). */
  addEvent: (event: ReadEvent) => void;
  /** Resolves when the tables can take more: the next task waits for it. */
  ready: () => Promise<void>;
  /** Compressed bytes per task; TASK_BYTES unless a test wants many small tasks. */
  taskBytes?: number;
  /** Keys per dictionary before it starts again; decoder.ts's default unless a test says. */
  dictionaryMaxKeys?: number;
}

export async function loadFiles(
  path: string,
  window: Window,
  options: FileLoadOptions,
): Promise<FileLoadStats> {
  const current = canonicalForm(fileSchemaJson());
  const stats: FileLoadStats = { skipped: 0, partialBytes: 0 };
  const taskBytes = options.taskBytes ?? TASK_BYTES;
  const pool = new DecodePool(window, options, (output) => {
    stats.skipped += output.skipped;
    options.write(output);
  });
  try {
    for (const file of await new AvroFileSource(path).files()) {
      const reader = await FileReader.open(file);
      try {
        const first = await reader.segment(0, SEGMENT_BYTES);
        const header = headerOf(file, first.data);
        if (header === null) {
          stats.partialBytes += reader.size;
          continue;
        }
        // Parsing Canonical Form: a change of docs or defaults leaves the binary layout alone.
        if (canonicalForm(header.schema) !== current) {
          for await (const event of new AvroFileSource(file).events()) {
            options.addEvent(event);
            await options.ready();
          }
          continue;
        }
        stats.partialBytes += await splitBlocks(reader, first, header, pool, taskBytes);
      } finally {
        await reader.close();
      }
    }
    await pool.drain();
  } finally {
    await pool.destroy();
  }
  return stats;
}

/**
 * Hands every complete block of the file to the pool, in runs of about `taskBytes`; returns
 * the bytes after the last complete block.
 */
async function splitBlocks(
  reader: FileReader,
  first: Segment,
  header: OcfHeader,
  pool: DecodePool,
  taskBytes: number,
): Promise<number> {
  const codec = codecOf(reader.file, header);
  let segment = first;
  let pos = header.length;
  let block = 0;
  for (;;) {
    const task: DecodeTask = {
      file: reader.file,
      codec,
      data: segment.data.buffer as SharedArrayBuffer,
      blocks: [],
      firstBlock: block,
    };
    let bytes = 0;
    let found: OcfBlockSpan | null = null;
    while (bytes < taskBytes && (found = blockAt(reader.file, segment, pos, header, block))) {
      task.blocks.push(segment.data.byteOffset + found.dataStart, found.dataLength, found.count);
      bytes += found.dataLength;
      pos = found.end;
      block++;
    }
    if (task.blocks.length > 0) await pool.submit(task);
    if (found !== null) continue;

    // The segment ends inside the block at `pos`: read on from there, or stop at the file's end.
    const next = segment.offset + pos;
    if (segment.offset + segment.data.length >= reader.size) return reader.size - next;
    const rest = segment.data.length - pos;
    if (rest > READ_BLOCK_MAX_BYTES) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `reading ${reader.file}: block ${block} at byte ${next} is larger than ` +
          `${READ_BLOCK_MAX_BYTES} bytes`,
      );
    }
    segment = await reader.segment(next, Math.max(SEGMENT_BYTES, 2 * rest));
    pos = 0;
  }
}

function headerOf(file: string, data: Buffer): OcfHeader | null {
  try {
    return decodeHeader(data);
  } catch (err) {
    throw new PidstreamError('PIDSTREAM_ERR_SOURCE', `reading ${file}: ${String(err)}`, {
      cause: err,
    });
  }
}

function codecOf(file: string, header: OcfHeader): DecodeTask['codec'] {
  if (header.codec === 'deflate' || header.codec === 'null') return header.codec;
  throw new PidstreamError(
    'PIDSTREAM_ERR_DECODE',
    `reading ${file}: codec '${header.codec}' is not supported (deflate and null are)`,
  );
}

function blockAt(
  file: string,
  segment: Segment,
  pos: number,
  header: OcfHeader,
  block: number,
): OcfBlockSpan | null {
  try {
    return blockSpanAt(segment.data, pos, header.sync);
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_DECODE',
      `reading ${file}: block ${block} at byte ${segment.offset + pos}: ${String(err)}`,
      { cause: err },
    );
  }
}

/** A container file read in segments of shared memory, which the decode workers read too. */
class FileReader {
  readonly file: string;
  readonly size: number;
  readonly #handle: FileHandle;

  private constructor(file: string, handle: FileHandle, size: number) {
    this.file = file;
    this.#handle = handle;
    this.size = size;
  }

  static async open(file: string): Promise<FileReader> {
    try {
      const handle = await open(file, 'r');
      return new FileReader(file, handle, (await handle.stat()).size);
    } catch (err) {
      throw sourceError(file, err);
    }
  }

  /** At most `bytes` bytes from `offset`, fewer at the file's end. */
  async segment(offset: number, bytes: number): Promise<Segment> {
    const length = Math.max(0, Math.min(bytes, this.size - offset));
    const data = Buffer.from(new SharedArrayBuffer(length));
    try {
      let filled = 0;
      while (filled < length) {
        const { bytesRead } = await this.#handle.read(
          data,
          filled,
          length - filled,
          offset + filled,
        );
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return { data: data.subarray(0, filled), offset };
    } catch (err) {
      throw sourceError(this.file, err);
    }
  }

  async close(): Promise<void> {
    await this.#handle.close();
  }
}

function sourceError(file: string, err: unknown): PidstreamError {
  return new PidstreamError('PIDSTREAM_ERR_SOURCE', `reading ${file}: ${String(err)}`, {
    cause: err,
  });
}

/**
 * The decode workers of one load. Piscina rather than bare worker_threads: tasks are
 * independent runs of blocks that any worker can take, which is what a pool schedules; the
 * state a worker keeps across tasks (its dictionaries) is named by its source number in every
 * result.
 */
class DecodePool {
  readonly #pool: Piscina<DecodeTask, DecodeResult>;
  /** Settles once every worker has loaded its modules (workers/warm-up.ts), or gave up. */
  readonly #warm: Promise<void>;
  readonly #write: (output: DecodeOutput) => void;
  readonly #ready: () => Promise<void>;
  readonly #inFlight = new Set<Promise<void>>();
  #failure: unknown = undefined;

  constructor(window: Window, options: FileLoadOptions, write: (output: DecodeOutput) => void) {
    const workerData: DecodeWorkerData = {
      sources: new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT),
      since: window.since,
      until: window.until,
      dictionaryMaxKeys: options.dictionaryMaxKeys ?? DICTIONARY_MAX_KEYS,
    };
    // Every worker lives for the whole load: a replacement would be a new source.
    this.#pool = new Piscina({
      filename: distFile('cli/query/decode-worker.js'),
      minThreads: DECODE_WORKERS,
      maxThreads: DECODE_WORKERS,
      idleTimeout: Infinity,
      workerData,
    });
    const warm = warmUpTask(DECODE_WORKERS, WARM_UP_TIMEOUT_MS);
    const runner = this.#pool as unknown as { run(task: WarmUpTask): Promise<boolean> };
    this.#warm = Promise.all(Array.from({ length: DECODE_WORKERS }, () => runner.run(warm))).then(
      () => undefined,
      () => undefined,
    );
    this.#write = write;
    this.#ready = options.ready;
  }

  /** Queues a task; waits first while TASKS_IN_FLIGHT tasks are, or the tables are behind. */
  async submit(task: DecodeTask): Promise<void> {
    while (this.#inFlight.size >= TASKS_IN_FLIGHT) await this.#settleOne();
    await this.#ready();
    this.#throwFailure();
    // `done` never rejects: a failure is kept and thrown by the next call on this thread, so a
    // task that fails while the main thread reads a file is not an unhandled rejection.
    const done: Promise<void> = this.#pool.run(task).then(
      (result) => {
        this.#inFlight.delete(done);
        if ('error' in result) {
          this.#failure ??= new PidstreamError(result.error.code, result.error.message);
        } else if (this.#failure === undefined) {
          this.#writeOrKeep(result);
        }
      },
      (err: unknown) => {
        this.#inFlight.delete(done);
        this.#failure ??= err;
      },
    );
    this.#inFlight.add(done);
  }

  /** Waits until every queued task is written. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await this.#settleOne();
    this.#throwFailure();
  }

  async #settleOne(): Promise<void> {
    await Promise.race(this.#inFlight);
    this.#throwFailure();
  }

  #writeOrKeep(output: DecodeOutput): void {
    try {
      this.#write(output);
    } catch (err) {
      this.#failure = err;
    }
  }

  #throwFailure(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Stops the workers; the results of tasks still running are dropped. Not before every worker
   * has loaded: koffi aborts the process when a thread is terminated while it loads.
   */
  async destroy(): Promise<void> {
    await this.#warm;
    await this.#pool.destroy();
  }
}
