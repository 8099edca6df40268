/**
 * The fast way in for Avro container files written with the current schemas: blocks are
 * inflated on libuv's thread pool (one block ahead of the decoder) and their records decoded in
 * place, with no per-event object, buffer or promise. Going through the generic EventSource
 * instead decodes every record twice (once with avsc to find its end) and awaits once per
 * event, which held a load to a fraction of the decoder's rate (docs/query.md has the figures).
 *
 * A file written with another schema version goes through AvroFileSource, which resolves its
 * records to the current schemas.
 */
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';

import { PidstreamError } from '../../common/errors.js';
import { EVENT_NAMES, fileSchemaJson, type EventName } from '../../schemas/index.js';
import { AvroFileSource } from '../../streams/avro-file-source.js';
import { decodeBlock, decodeHeader, type OcfBlock, type OcfHeader } from '../../streams/ocf.js';
import type { ReadEvent } from '../../streams/types.js';
import { canonicalForm } from '../../streams/wire.js';
import { readVarint } from './decoder.js';
import type { TableStage } from './staging.js';

/**
 * Output buffer of one inflate step: the sink's blocks hold at most 64 KiB of records plus one
 * record, so one step inflates a block. zlib's default of 16 KiB made it a chain of steps and
 * copies. Blocks inflate synchronously: handing each to the thread pool cost more in promises
 * and waiting than the inflate itself on the project's 2-core machine.
 */
const INFLATE_CHUNK_BYTES = 256 * 1024;

/** Bytes of the stamp's fixed `prev_digest`, between `seq` and the body's `time`. */
const DIGEST_BYTES = 32;

export interface Window {
  since: number;
  until: number;
}

export interface FileLoadStats {
  skipped: number;
  /** Bytes after the last complete block of a file (one still being written), not loaded. */
  partialBytes: number;
}

/** Wall-clock microseconds of the record at `pos`: its `time`, the first field after the stamp. */
function timeAt(buf: Buffer, pos: number): number {
  for (let s = 0; s < 3; s++) {
    const length = readVarint(buf, pos);
    pos = length.end + length.value;
  }
  pos = readVarint(buf, pos).end + DIGEST_BYTES;
  return readVarint(buf, pos).value;
}

function decompress(header: OcfHeader, data: Buffer): Buffer {
  if (header.codec === 'deflate') return inflateRawSync(data, { chunkSize: INFLATE_CHUNK_BYTES });
  if (header.codec === 'null') return data;
  throw new RangeError(`codec '${header.codec}' is not supported (deflate and null are)`);
}

export async function loadFiles(
  path: string,
  stages: ReadonlyMap<EventName, TableStage>,
  window: Window,
  addEvent: (event: ReadEvent) => void,
): Promise<FileLoadStats> {
  const current = canonicalForm(fileSchemaJson());
  const stats: FileLoadStats = { skipped: 0, partialBytes: 0 };
  for (const file of await new AvroFileSource(path).files()) {
    let data: Buffer;
    let header: OcfHeader | null;
    try {
      data = await readFile(file);
      header = decodeHeader(data);
    } catch (err) {
      throw new PidstreamError('PIDSTREAM_ERR_SOURCE', `reading ${file}: ${String(err)}`, {
        cause: err,
      });
    }
    if (header === null) {
      stats.partialBytes += data.length;
      continue;
    }
    // Parsing Canonical Form: a change of docs or defaults leaves the binary layout alone.
    if (canonicalForm(header.schema) !== current) {
      for await (const event of new AvroFileSource(file).events()) addEvent(event);
      continue;
    }
    loadBlocks(file, data, header, stages, window, stats);
  }
  return stats;
}

function loadBlocks(
  file: string,
  data: Buffer,
  header: OcfHeader,
  stages: ReadonlyMap<EventName, TableStage>,
  window: Window,
  stats: FileLoadStats,
): void {
  const byBranch = EVENT_NAMES.map((name) => stages.get(name)!);
  let pos = header.length;
  for (let block = 0; ; block++) {
    const found = blockAt(file, data, pos, header, block);
    if (found === null) break;
    pos = found.end;
    const records = decompress(header, found.data);
    let at = 0;
    for (let i = 0; i < found.count; i++) {
      const branch = readVarint(records, at);
      const stage = byBranch[branch.value];
      if (stage === undefined) {
        throw new PidstreamError(
          'PIDSTREAM_ERR_DECODE',
          `reading ${file}: block ${block}, record ${i} has union branch ${branch.value}`,
        );
      }
      const time = timeAt(records, branch.end);
      if (time < window.since || time >= window.until) {
        at = stage.decoder.skip(records, branch.end);
        stats.skipped++;
        continue;
      }
      at = stage.addAt(records, branch.end);
    }
  }
  stats.partialBytes += data.length - pos;
}

function blockAt(
  file: string,
  data: Buffer,
  pos: number,
  header: OcfHeader,
  block: number,
): OcfBlock | null {
  try {
    return decodeBlock(data, pos, header.sync);
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_DECODE',
      `reading ${file}: block ${block} at byte ${pos}: ${String(err)}`,
      { cause: err },
    );
  }
}
