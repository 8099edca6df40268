/**
 * The messages between `pidstream query`'s main thread and its decode workers, in one place.
 *
 * The main thread reads container files into SharedArrayBuffers and finds their blocks; a task
 * names a run of blocks in one of those buffers (shared, not copied). The worker inflates and
 * decodes them and transfers back the chunks it filled, laid out as DuckDB's vectors
 * (chunk-layout.ts), with the dictionary keys it saw for the first time, as raw bytes.
 */
import type { ErrorCode } from '../../common/errors.js';
import type { DecodedChunk, DecodedKeys, KeyReset } from './decoder.js';

/** What every worker of one load starts with. */
export interface DecodeWorkerData {
  /**
   * One Int32 counter: each worker takes the next number from it as the name of its
   * dictionaries (the main thread's decoder is source 0).
   */
  sources: SharedArrayBuffer;
  /** Wall-clock microseconds; records outside [since, until) are read and dropped. */
  since: number;
  until: number;
  /** Keys a dictionary holds before it starts again (decoder.ts). */
  dictionaryMaxKeys: number;
}

export interface DecodeTask {
  /** For error messages. */
  file: string;
  codec: 'deflate' | 'null';
  data: SharedArrayBuffer;
  /** Per block: offset of its (compressed) records in `data`, their length, record count. */
  blocks: number[];
  /** Index of the first block in its file, for error messages. */
  firstBlock: number;
}

export interface DecodeOutput {
  /** The worker's source number, which its dictionary ids belong to. */
  source: number;
  /** New keys first: the chunks refer to them. */
  keys: DecodedKeys[];
  chunks: DecodedChunk[];
  /** Dictionaries that start again from id 0 after these chunks. */
  resets: KeyReset[];
  records: number;
  skipped: number;
}

/** A decode error crosses the thread boundary as its code and message. */
export interface DecodeFailure {
  error: { code: ErrorCode; message: string };
}

export type DecodeResult = DecodeOutput | DecodeFailure;
