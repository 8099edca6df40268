/**
 * The framing of Avro Object Container Files (Avro specification, "Object Container Files"):
 *
 *   header  = "Obj" 0x01, metadata map<bytes> (avro.schema, avro.codec), 16-byte sync marker
 *   block   = record count (long), byte size (long), that many bytes of records, sync marker
 *
 * avsc's BlockEncoder takes values and encodes them itself; pidstream's sinks hold records that
 * are already encoded (the stamp and hash chain are computed over those exact bytes), so the
 * writer frames blocks by hand here. The header is encoded and decoded with an avsc type built
 * from the specification's own header schema, a block's count and size with avsc's long.
 */
import avro from 'avsc';

export const OCF_MAGIC = Buffer.from([0x4f, 0x62, 0x6a, 0x01]);
export const SYNC_SIZE = 16;
export type Codec = 'null' | 'deflate';

const HEADER = avro.Type.forSchema({
  type: 'record',
  name: 'org.apache.avro.file.Header',
  fields: [
    { name: 'magic', type: { type: 'fixed', name: 'Magic', size: 4 } },
    { name: 'meta', type: { type: 'map', values: 'bytes' } },
    { name: 'sync', type: { type: 'fixed', name: 'Sync', size: SYNC_SIZE } },
  ],
});

const LONG = avro.Type.forSchema('long');

export interface OcfHeader {
  /** The writer schema, parsed from `avro.schema`. */
  schema: unknown;
  codec: string;
  sync: Buffer;
  meta: Record<string, Buffer>;
  /** Bytes the header takes at the start of the file. */
  length: number;
}

export interface OcfBlock {
  count: number;
  /** The block's record bytes, still compressed by the file's codec. */
  data: Buffer;
  /** Offset just past the block's sync marker. */
  end: number;
}

export function encodeHeader(
  schema: unknown,
  codec: Codec,
  sync: Buffer,
  extra: Record<string, string> = {},
): Buffer {
  const meta: Record<string, Buffer> = {
    'avro.schema': Buffer.from(JSON.stringify(schema)),
    'avro.codec': Buffer.from(codec),
  };
  for (const [key, value] of Object.entries(extra)) meta[key] = Buffer.from(value);
  return HEADER.toBuffer({ magic: OCF_MAGIC, meta, sync });
}

/** A block's leading count and size; the caller writes the data and the sync marker after it. */
export function encodeBlockPrefix(count: number, dataBytes: number): Buffer {
  return Buffer.concat([LONG.toBuffer(count), LONG.toBuffer(dataBytes)]);
}

/**
 * The header at the start of `buf`, or null when `buf` ends before the header does.
 * Throws a RangeError naming what is wrong when `buf` is not a container file.
 */
export function decodeHeader(buf: Buffer): OcfHeader | null {
  if (buf.length < OCF_MAGIC.length) return null;
  if (!buf.subarray(0, OCF_MAGIC.length).equals(OCF_MAGIC)) {
    throw new RangeError(
      `not an Avro container file: starts with ${buf.subarray(0, 4).toString('hex')}`,
    );
  }
  const { value, offset } = HEADER.decode(buf, 0) as {
    value: { meta: Record<string, Buffer>; sync: Buffer } | undefined;
    offset: number;
  };
  if (value === undefined || offset < 0) return null;
  const schemaText = value.meta['avro.schema'];
  if (schemaText === undefined) throw new RangeError('container file header has no avro.schema');
  return {
    schema: JSON.parse(schemaText.toString('utf8')) as unknown,
    codec: value.meta['avro.codec']?.toString('utf8') ?? 'null',
    sync: Buffer.from(value.sync),
    meta: value.meta,
    length: offset,
  };
}

/** Where a block's parts lie in the buffer it was found in. */
export interface OcfBlockSpan {
  count: number;
  /** Offset of the block's (still compressed) record bytes, and their length. */
  dataStart: number;
  dataLength: number;
  /** Offset just past the block's sync marker. */
  end: number;
}

/**
 * The block at `pos`, or null when `buf` ends inside it: a file still being written, or one
 * whose writer stopped mid-block. Throws a RangeError when the sync marker does not match.
 * The block's bytes are not copied: a reader that hands them to other threads in shared memory
 * needs their offsets.
 */
export function blockSpanAt(buf: Buffer, pos: number, sync: Buffer): OcfBlockSpan | null {
  const count = readLong(buf, pos);
  if (count === null) return null;
  const size = readLong(buf, count.end);
  if (size === null) return null;
  // A negative size reads as bytes that never came, as avsc's bytes type reads it.
  if (size.value < 0) return null;
  const end = size.end + size.value + SYNC_SIZE;
  if (end > buf.length) return null;
  if (!buf.subarray(end - SYNC_SIZE, end).equals(sync)) {
    throw new RangeError('sync marker mismatch at the end of the block');
  }
  return { count: count.value, dataStart: size.end, dataLength: size.value, end };
}

/** The block at `pos` with a copy of its bytes, or null as for `blockSpanAt`. */
export function decodeBlock(buf: Buffer, pos: number, sync: Buffer): OcfBlock | null {
  const span = blockSpanAt(buf, pos, sync);
  if (span === null) return null;
  const data = Buffer.from(buf.subarray(span.dataStart, span.dataStart + span.dataLength));
  return { count: span.count, data, end: span.end };
}

/** Reads the zig-zag varint long at `pos`; null when `buf` ends first. */
export function readLong(buf: Buffer, pos: number): { value: number; end: number } | null {
  const { value, offset } = LONG.decode(buf, pos) as { value: number | undefined; offset: number };
  return value === undefined || offset < 0 ? null : { value, end: offset };
}

/**
 * A deflate block read from a file written in pidstream's current file schema, kept whole:
 * a sink that is handed exactly its records, in order and unchanged, writes `deflated` again
 * instead of compressing the same bytes anew (streams/avro-file-sink.ts checks that).
 */
export interface ReusableBlock {
  /** The block's records, inflated; the events read from it are views into this buffer. */
  records: Buffer;
  /** The block's data as the file held it. */
  deflated: Buffer;
  count: number;
}
