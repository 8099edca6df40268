import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import avro from 'avsc';
import { afterEach, describe, expect, it } from 'vitest';

import { PidstreamError } from '../common/errors.js';
import { eventType, schemaJson } from '../schemas/index.js';
import { AvroFileSink } from '../streams/avro-file-sink.js';
import { AvroFileSource } from '../streams/avro-file-source.js';
import { decodeBlock, decodeHeader } from '../streams/ocf.js';
import type { ReadEvent } from '../streams/types.js';
import { agentEvent, mixedEvents, sequencer, T0 } from './support/file-events.js';

const dirs: string[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-source-'));
  dirs.push(dir);
  return dir;
}

afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function readAll(source: AvroFileSource): Promise<ReadEvent[]> {
  const events: ReadEvent[] = [];
  for await (const event of source.events()) events.push(event);
  return events;
}

/** A closed file of two blocks of three events each; returns its path and bytes. */
async function twoBlockFile(dir: string): Promise<{ path: string; bytes: Buffer }> {
  const sink = new AvroFileSink({ dir });
  const seq = sequencer();
  await sink.write(mixedEvents(seq, 3));
  await sink.flush();
  await sink.write(mixedEvents(seq, 3, T0 + 3000));
  await sink.close();
  const path = sink.files[0] as string;
  return { path, bytes: readFileSync(path) };
}

describe('AvroFileSource', () => {
  it('stops cleanly at a partial trailing block and reports its size', async () => {
    const dir = tempDir();
    const { bytes } = await twoBlockFile(dir);
    const header = decodeHeader(bytes);
    const first = decodeBlock(bytes, header?.length ?? 0, header?.sync ?? Buffer.alloc(16));
    const cut = join(tempDir(), 'cut.avro');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 10));

    const source = new AvroFileSource(cut);
    const events = await readAll(source);
    expect(events.map((e) => e.timeUs)).toEqual([T0, T0 + 1000, T0 + 2000]);
    expect(source.partialTails).toEqual([
      { file: cut, bytes: bytes.length - 10 - (first?.end ?? 0) },
    ]);
  });

  it('reads nothing and reports the tail of a file cut inside its header', async () => {
    const dir = tempDir();
    const { bytes } = await twoBlockFile(dir);
    const cut = join(tempDir(), 'header.avro');
    writeFileSync(cut, bytes.subarray(0, 100));
    const source = new AvroFileSource(cut);
    expect(await readAll(source)).toEqual([]);
    expect(source.partialTails).toEqual([{ file: cut, bytes: 100 }]);
  });

  it('names the file with a damaged sync marker and goes on with the next file', async () => {
    const dir = tempDir();
    const { path, bytes } = await twoBlockFile(dir);
    const damaged = Buffer.from(bytes);
    const header = decodeHeader(bytes);
    const first = decodeBlock(bytes, header?.length ?? 0, header?.sync ?? Buffer.alloc(16));
    const syncAt = (first?.end ?? 0) - 1;
    damaged[syncAt] = (damaged[syncAt] ?? 0) ^ 0xff;
    const readDir = tempDir();
    writeFileSync(join(readDir, 'a.avro'), damaged);
    copyFileSync(path, join(readDir, 'b.avro'));

    const errors: PidstreamError[] = [];
    const source = new AvroFileSource(readDir, { onUnreadable: (err) => errors.push(err) });
    const events = await readAll(source);
    expect(events).toHaveLength(6);
    expect(events.every((e) => e.position.startsWith(join(readDir, 'b.avro')))).toBe(true);
    expect(errors.map((e) => [e.code, e.message])).toEqual([
      [
        'PIDSTREAM_ERR_DECODE',
        `reading ${join(readDir, 'a.avro')}: block 0 at byte ${header?.length}: sync marker mismatch at the end of the block`,
      ],
    ]);
  });

  it('refuses a file that is not an Avro container file, naming it', async () => {
    const path = join(tempDir(), 'notes.avro');
    writeFileSync(path, 'hello world');
    await expect(readAll(new AvroFileSource(path))).rejects.toThrow(
      `reading ${path}: not an Avro container file: starts with 68656c6c`,
    );
  });

  it('reads a file another Avro writer made with a single event schema', async () => {
    const path = join(tempDir(), 'agent-only.avro');
    const event = agentEvent(sequencer(), T0, 'from avsc');
    const record = eventType('AgentEvent').fromBuffer(event.bytes);
    await new Promise<void>((resolve, reject) => {
      const encoder = avro.createFileEncoder(path, schemaJson('AgentEvent') as avro.Schema);
      encoder.on('error', reject).on('finish', resolve);
      encoder.end(record);
    });
    const events = await readAll(new AvroFileSource(path));
    expect(events.map((e) => [e.name, e.timeUs, e.bytes.equals(event.bytes)])).toEqual([
      ['AgentEvent', T0, true],
    ]);
  });
});
