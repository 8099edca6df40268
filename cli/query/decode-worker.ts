/**
 * The Piscina worker entry of `pidstream query`: inflates and decodes runs of container-file
 * blocks, each inflated straight into the WebAssembly decoder's memory (native/libdeflate.ts).
 * Blocks are independent of each other, so any worker can take any run; the main thread only
 * writes the finished chunks into DuckDB.
 *
 * A worker keeps its decoder, and so its dictionaries, for the whole load: a key goes to the
 * main thread once per worker, not once per task. Chunks are not kept across tasks: the last,
 * partly filled chunk of each event type goes back with its task, which costs a short chunk
 * per task and spares a per-worker flush that a pool cannot address.
 */
import { inflateRawSync } from 'node:zlib';

import Piscina from 'piscina';

import { PidstreamError } from '../../common/errors.js';
import { RawInflater } from '../../native/libdeflate.js';
import type { WarmUpTask } from '../../workers/protocol.js';
import { arriveAndWait, isWarmUpTask } from '../../workers/warm-up.js';
import type {
  DecodeFailure,
  DecodeOutput,
  DecodeResult,
  DecodeTask,
  DecodeWorkerData,
} from './decode-protocol.js';
import { RecordDamage, RecordDecoder, type DecodedChunk } from './decoder.js';

/**
 * node:zlib's output buffer of one inflate step, where libdeflate is missing: the sink's blocks
 * hold at most 64 KiB of records plus one record, so one step inflates a block. zlib's default
 * of 16 KiB made it a chain of steps and copies.
 */
const INFLATE_CHUNK_BYTES = 256 * 1024;

const workerData = Piscina.workerData as DecodeWorkerData | undefined;
if (workerData === undefined) {
  throw new Error('cli/query/decode-worker.js run without workerData: DecodeWorkerData');
}
const source = Atomics.add(new Int32Array(workerData.sources), 0, 1) + 1;
const decoder = new RecordDecoder(workerData.dictionaryMaxKeys);
decoder.setWindow(workerData.since, workerData.until);

/** The result, with every buffer it holds listed for transfer. */
class TransferredOutput {
  readonly #output: DecodeOutput;

  constructor(output: DecodeOutput) {
    this.#output = output;
  }

  get [Piscina.transferableSymbol](): ArrayBuffer[] {
    const { chunks, keys } = this.#output;
    return [
      ...chunks.map((c) => c.buffer),
      ...keys.flatMap((k) => [k.lengths.buffer, k.bytes.buffer]),
    ];
  }

  get [Piscina.valueSymbol](): DecodeOutput {
    return this.#output;
  }
}

/** Room first offered for a block's records; the sink's blocks hold about 64 KiB. */
const INITIAL_RECORDS_BYTES = 1024 * 1024;
/** Cap on a block's inflated records: a block claiming more is treated as damage. */
const MAX_RECORDS_BYTES = 256 * 1024 * 1024;

const inflater = RawInflater.open();
let recordsBytes = INITIAL_RECORDS_BYTES;

/** Inflates a block's records into the decoder's input; returns their length. */
function inflateBlock(data: Uint8Array, codec: DecodeTask['codec']): number {
  if (codec === 'null') {
    decoder.input(data.length).set(data);
    return data.length;
  }
  if (inflater === null) {
    const records = inflateRawSync(data, { chunkSize: INFLATE_CHUNK_BYTES });
    decoder.input(records.length).set(records);
    return records.length;
  }
  for (;;) {
    const length = inflater.inflate(data, decoder.input(recordsBytes));
    if (length >= 0) return length;
    if (recordsBytes >= MAX_RECORDS_BYTES) {
      throw new RangeError(`its records inflate to more than ${MAX_RECORDS_BYTES} bytes`);
    }
    recordsBytes *= 2;
  }
}

function run(task: DecodeTask): DecodeOutput {
  const chunks: DecodedChunk[] = [];
  const keep = (chunk: DecodedChunk): void => {
    chunks.push(chunk);
  };
  let records = 0;
  let skipped = 0;
  const blocks = task.blocks;
  for (let b = 0; b < blocks.length; b += 3) {
    const data = new Uint8Array(task.data, blocks[b]!, blocks[b + 1]!);
    const count = blocks[b + 2]!;
    const where = `reading ${task.file}: block ${task.firstBlock + b / 3}`;
    let length: number;
    try {
      length = inflateBlock(data, task.codec);
    } catch (err) {
      throw new PidstreamError('PIDSTREAM_ERR_DECODE', `${where}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    try {
      skipped += decoder.decodeInput(length, count, -1, keep);
    } catch (err) {
      if (!(err instanceof RecordDamage)) throw err;
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `${where}, record ${err.record}: ${err.message}`,
        { cause: err },
      );
    }
    records += count;
  }
  chunks.push(...decoder.takeChunks());
  const keys = decoder.takeAllKeys();
  return { source, keys, chunks, resets: decoder.resetFullDictionaries(), records, skipped };
}

/**
 * Piscina unwraps the moved object before posting it, so `pool.run()` resolves to a plain
 * `DecodeOutput`; the cast states that contract for the type checker.
 */
function transfer(output: DecodeOutput): DecodeOutput {
  return Piscina.move(new TransferredOutput(output)) as unknown as DecodeOutput;
}

export default function decodeBlocks(task: DecodeTask | WarmUpTask): DecodeResult | boolean {
  // The module, libdeflate with it, is loaded by the time a task runs: a warm-up only waits.
  if (isWarmUpTask(task)) return arriveAndWait(task);
  try {
    return transfer(run(task));
  } catch (err) {
    if (!(err instanceof PidstreamError)) throw err;
    const failure: DecodeFailure = { error: { code: err.code, message: err.message } };
    return failure;
  }
}
