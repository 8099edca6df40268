import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import avro from 'avsc';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { deflateRawSync } from 'node:zlib';

import { afterEach, describe, expect, it } from 'vitest';

import { encodeLong, type StampedEvent } from '../ingest/sequencer.js';
import { fileSchemaJson, UNION_INDEX } from '../schemas/index.js';
import {
  AvroFileSink,
  type BlockEvent,
  DEFLATE_LEVEL,
  fileName,
} from '../streams/avro-file-sink.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import {
  decodeBlock,
  decodeHeader,
  encodeBlockPrefix,
  encodeHeader,
  type OcfBlock,
} from '../streams/ocf.js';
import type { ReadEvent } from '../streams/types.js';
import { mixedEvents, sequencer, T0 } from './support/file-events.js';

const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-files-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function readAll(path: string): Promise<{ events: ReadEvent[]; source: AvroFileSource }> {
  const source = new AvroFileSource(path);
  const events: ReadEvent[] = [];
  for await (const event of source.events()) events.push(event);
  return { events, source };
}

/** The blocks of one container file, as its bytes hold them. */
function blocksOf(path: string): OcfBlock[] {
  const bytes = readFileSync(path);
  const header = decodeHeader(bytes);
  if (header === null) throw new Error(`${path} has no header`);
  const blocks: OcfBlock[] = [];
  for (let at = header.length; at < bytes.length;) {
    const block = decodeBlock(bytes, at, header.sync) as OcfBlock;
    blocks.push(block);
    at = block.end;
  }
  return blocks;
}

/** The union-branch-prefixed records of `events`, as one block's data holds them. */
function records(events: readonly StampedEvent[]): Buffer {
  return Buffer.concat(events.flatMap((e) => [encodeLong(UNION_INDEX[e.name]), e.bytes]));
}

/**
 * A one-block file of `events`, deflated at level 9: the sink's own level (DEFLATE_LEVEL)
 * compresses the same records to other bytes, so reused data can be told from new.
 */
function fastDeflatedFile(dir: string, events: readonly StampedEvent[]): Buffer {
  const sync = randomBytes(16);
  const data = deflateRawSync(records(events), { level: 9 });
  expect(data).not.toEqual(deflateRawSync(records(events), { level: DEFLATE_LEVEL }));
  writeFileSync(
    join(dir, 'input.avro'),
    Buffer.concat([
      encodeHeader(fileSchemaJson(), 'deflate', sync),
      encodeBlockPrefix(events.length, data.length),
      data,
      sync,
    ]),
  );
  return data;
}

async function blockEvents(path: string): Promise<BlockEvent[]> {
  const events: BlockEvent[] = [];
  for await (const block of new AvroFileSource(path).blocks()) {
    for (const e of block) events.push({ name: e.name, seq: 0, bytes: e.bytes, block: e.block });
  }
  return events;
}

function same(read: ReadEvent[], written: StampedEvent[]): void {
  expect(read.map((e) => e.name)).toEqual(written.map((e) => e.name));
  expect(read.map((e) => e.bytes.toString('hex'))).toEqual(
    written.map((e) => e.bytes.toString('hex')),
  );
}

describe('AvroFileSink', () => {
  it('writes a deflate container file, mode 0640, named by its first event, that reads back byte for byte', async () => {
    const dir = tempDir();
    const events = mixedEvents(sequencer(), 10);
    const sink = new AvroFileSink({ dir });
    await sink.write(events);
    await sink.close();

    expect(readdirSync(dir)).toEqual(['pidstream-20261203T192626.123456Z-000000000000.avro']);
    const path = join(dir, readdirSync(dir)[0] as string);
    expect(statSync(path).mode & 0o777).toBe(0o640);
    const header = decodeHeader(readFileSync(path));
    expect(header?.codec).toBe('deflate');

    const { events: read, source } = await readAll(dir);
    same(read, events);
    expect(read.map((e) => e.timeUs)).toEqual(events.map((_, i) => T0 + i * 1000));
    expect(read[0]?.position).toBe(`${path}:0`);
    expect(source.partialTails).toEqual([]);
  });

  it('writes files that avsc’s own container decoder reads as the union of events', async () => {
    const dir = tempDir();
    const sink = new AvroFileSink({ dir });
    await sink.write(mixedEvents(sequencer(), 4));
    await sink.close();
    const path = join(dir, readdirSync(dir)[0] as string);
    // avsc's decoder wraps a union of records: each value is { 'io.pidstream.<Name>': record }.
    const decoded: Record<string, { agent: { seq: number } }>[] = [];
    let codec = '';
    await new Promise<void>((resolve, reject) => {
      avro
        .createFileDecoder(path)
        .on('metadata', (_type: unknown, c: string) => (codec = c))
        .on('data', (record: Record<string, { agent: { seq: number } }>) => decoded.push(record))
        .on('error', reject)
        .on('end', resolve);
    });
    expect(codec).toBe('deflate');
    expect(decoded.map((r) => Object.keys(r)[0])).toEqual([
      'io.pidstream.ProcessExit',
      'io.pidstream.AgentEvent',
      'io.pidstream.ProcessExit',
      'io.pidstream.AgentEvent',
    ]);
    expect(decoded.map((r) => Object.values(r)[0]?.agent.seq)).toEqual([0, 1, 2, 3]);
  });

  it('rotates by size into files whose names sort in event order', async () => {
    const dir = tempDir();
    const seq = sequencer();
    // The header holds the whole schema with its documentation: about 15 KB.
    const maxBytes = 20_000;
    const sink = new AvroFileSink({ dir, maxBytes });
    const written: StampedEvent[] = [];
    for (let batch = 0; batch < 40; batch++) {
      const events = mixedEvents(seq, 8, T0 + batch * 10_000);
      written.push(...events);
      await sink.write(events);
      await sink.flush();
    }
    await sink.close();

    const names = readdirSync(dir).sort();
    expect(names.length).toBeGreaterThan(2);
    expect(names.map((n) => join(dir, n))).toEqual(sink.files);
    for (const name of names) expect(statSync(join(dir, name)).size).toBeLessThanOrEqual(maxBytes);
    const { events } = await readAll(dir);
    same(events, written);
  });

  it('rotates by age, measured on the clock it is given', async () => {
    const dir = tempDir();
    let now = 1_000_000;
    const seq = sequencer();
    const sink = new AvroFileSink({ dir, maxAgeMs: 60_000, now: () => now });
    const first = mixedEvents(seq, 3);
    await sink.write(first);
    await sink.flush();
    now += 59_999;
    const second = mixedEvents(seq, 3, T0 + 5_000);
    await sink.write(second);
    await sink.flush();
    now += 1;
    const third = mixedEvents(seq, 3, T0 + 10_000);
    await sink.write(third);
    await sink.close();

    expect(readdirSync(dir).sort()).toEqual([fileName(T0, 0), fileName(T0 + 10_000, 6)]);
    same((await readAll(join(dir, fileName(T0, 0)))).events, [...first, ...second]);
  });

  it('keeps names in order even when a later file’s first event carries an earlier time', async () => {
    const dir = tempDir();
    const seq = sequencer();
    const sink = new AvroFileSink({ dir, maxBytes: 1 });
    await sink.write(mixedEvents(seq, 1, T0));
    await sink.flush();
    await sink.write(mixedEvents(seq, 1, T0 - 5));
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual([fileName(T0, 0), fileName(T0 + 1, 1)]);
  });

  it('makes a file readable up to its last block while it is still open', async () => {
    const dir = tempDir();
    const seq = sequencer();
    // A sync interval longer than the test, so that only flush() writes a block.
    const sink = new AvroFileSink({ dir, syncIntervalMs: 3_600_000 });
    const flushed = mixedEvents(seq, 5);
    await sink.write(flushed);
    await sink.flush();
    await sink.write(mixedEvents(seq, 5, T0 + 100_000));

    const { events, source } = await readAll(dir);
    same(events, flushed);
    expect(source.partialTails).toEqual([]);
    await sink.close();
    expect((await readAll(dir)).events).toHaveLength(10);
  });

  it('writes a block on its sync timer, without flush()', async () => {
    const dir = tempDir();
    const sink = new AvroFileSink({ dir, syncIntervalMs: 20 });
    const events = mixedEvents(sequencer(), 4);
    await sink.write(events);
    let read: ReadEvent[] = [];
    for (let attempt = 0; attempt < 500 && read.length === 0; attempt++) {
      await sleep(20);
      read = (await readAll(dir)).events;
    }
    same(read, events);
    await sink.close();
  });

  it('keeps the order of writes that were not awaited one by one', async () => {
    const dir = tempDir();
    const seq = sequencer();
    const sink = new AvroFileSink({ dir, maxBytes: 40_000 });
    const batches = Array.from({ length: 50 }, (_, i) => mixedEvents(seq, 20, T0 + i * 20_000));
    await Promise.all(batches.map((batch) => sink.write(batch)));
    await sink.close();
    same((await readAll(dir)).events, batches.flat());
  });

  it('writes a block handed over whole with the compressed bytes it was read with', async () => {
    const input = tempDir();
    const events = mixedEvents(sequencer(), 12);
    const data = fastDeflatedFile(input, events);
    const output = tempDir();
    const sink = new AvroFileSink({ dir: output, syncEachBlock: false });
    await sink.write(await blockEvents(join(input, 'input.avro')));
    await sink.close();

    const [file] = sink.files;
    expect(blocksOf(file as string).map((b) => [b.count, b.data.toString('hex')])).toEqual([
      [12, data.toString('hex')],
    ]);
    same((await readAll(output)).events, events);
  });

  it('compresses a block anew when an event of its source block is left out', async () => {
    const input = tempDir();
    const events = mixedEvents(sequencer(), 12);
    fastDeflatedFile(input, events);
    const output = tempDir();
    const sink = new AvroFileSink({ dir: output, syncEachBlock: false });
    const kept = (await blockEvents(join(input, 'input.avro'))).filter((_, i) => i !== 5);
    await sink.write(kept);
    await sink.close();

    const expected = events.filter((_, i) => i !== 5);
    const [file] = sink.files;
    expect(blocksOf(file as string).map((b) => [b.count, b.data.toString('hex')])).toEqual([
      [11, deflateRawSync(records(expected), { level: DEFLATE_LEVEL }).toString('hex')],
    ]);
    same((await readAll(output)).events, expected);
  });
});
