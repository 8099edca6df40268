/**
 * How many events a directory or file of Avro container files holds, for the progress bar:
 * every block starts with its record count and byte size (streams/ocf.ts), so walking the
 * block headers counts the events without inflating or decoding a record. A file that ends
 * inside a block counts its complete blocks only, as the source reads it.
 */
import { open } from 'node:fs/promises';

import { AvroFileSource } from '../../streams/avro-file-source.js';
import { decodeHeader, readLong, SYNC_SIZE } from '../../streams/ocf.js';

/** Bytes read for a header, doubled until it fits; beyond the cap the file is not counted. */
const HEADER_READ_BYTES = 64 * 1024;
const HEADER_MAX_BYTES = 16 * 1024 * 1024;
/** Two varint longs (count and size) take at most 20 bytes. */
const BLOCK_PREFIX_MAX_BYTES = 20;

export async function countFileEvents(path: string): Promise<number> {
  let total = 0;
  for (const file of await new AvroFileSource(path).files()) total += await countOne(file);
  return total;
}

async function countOne(file: string): Promise<number> {
  const handle = await open(file, 'r');
  try {
    const size = (await handle.stat()).size;
    const header = await headerLength(handle);
    if (header === null) return 0;
    let at = header;
    let count = 0;
    const prefix = Buffer.alloc(BLOCK_PREFIX_MAX_BYTES);
    while (at < size) {
      const { bytesRead } = await handle.read(prefix, 0, BLOCK_PREFIX_MAX_BYTES, at);
      const records = readLong(prefix.subarray(0, bytesRead), 0);
      const bytes = records === null ? null : readLong(prefix.subarray(0, bytesRead), records.end);
      if (records === null || bytes === null) break;
      const end: number = at + bytes.end + bytes.value + SYNC_SIZE;
      if (end > size) break;
      count += records.value;
      at = end;
    }
    return count;
  } finally {
    await handle.close();
  }
}

async function headerLength(handle: Awaited<ReturnType<typeof open>>): Promise<number | null> {
  for (let bytes = HEADER_READ_BYTES; bytes <= HEADER_MAX_BYTES; bytes *= 2) {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await handle.read(buf, 0, bytes, 0);
    const header = decodeHeader(buf.subarray(0, bytesRead));
    if (header !== null) return header.length;
    if (bytesRead < bytes) return null;
  }
  return null;
}
