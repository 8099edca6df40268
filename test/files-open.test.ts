import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';

import { afterAll, describe, expect, it } from 'vitest';

import { AvroFileSink } from '../streams/avro-file-sink.js';
import { openSink, openSource } from '../streams/open.js';
import type { ReadEvent } from '../streams/types.js';
import { mixedEvents, sequencer } from './support/file-events.js';

const root = mkdtempSync(join(tmpdir(), 'pidstream-open-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('openSink and openSource', () => {
  it('write a directory of Avro files and read it back through the same URI', async () => {
    const dir = join(root, 'out');
    const events = mixedEvents(sequencer(), 3);
    const sink = await openSink(dir);
    await sink.write(events);
    await sink.close();
    expect(readdirSync(dir)).toHaveLength(1);
    const source = await openSource(dir);
    const read: ReadEvent[] = [];
    for await (const event of source.events()) read.push(event);
    expect(read.map((e) => e.bytes.toString('hex'))).toEqual(
      events.map((e) => e.bytes.toString('hex')),
    );
  });

  it('write JSON lines for -', async () => {
    const out = new PassThrough();
    const sink = await openSink('-', { stdout: out });
    await sink.write(mixedEvents(sequencer(), 2));
    out.end();
    const text = (await out.toArray()).join('');
    expect(text.split('\n').map((l) => (l === '' ? '' : JSON.parse(l).type))).toEqual([
      'exit',
      'agent',
      '',
    ]);
  });

  it('name a source path that does not exist', async () => {
    const missing = join(root, 'nowhere');
    await expect(openSource(missing)).rejects.toThrow(`reading ${missing}: ENOENT`);
  });

  it('refuse a URI scheme they do not know, naming the flag', async () => {
    await expect(openSink('s3://bucket/x')).rejects.toThrow(
      '--out: unknown scheme in s3://bucket/x',
    );
  });
});

describe('AvroFileSink failures', () => {
  it('rejects writes with an error naming the directory it cannot create', async () => {
    const blocker = join(root, 'a-file');
    writeFileSync(blocker, 'not a directory');
    const sink = new AvroFileSink({ dir: join(blocker, 'out') });
    const failure = sink.write(mixedEvents(sequencer(), 1));
    await expect(failure).rejects.toMatchObject({ code: 'PIDSTREAM_ERR_SINK' });
    await expect(failure).rejects.toThrow(`creating ${join(blocker, 'out')}: ENOTDIR`);
  });

  it('rejects writes after close', async () => {
    const sink = new AvroFileSink({ dir: join(root, 'closed') });
    await sink.close();
    await expect(sink.write(mixedEvents(sequencer(), 1))).rejects.toThrow(
      `writing to ${join(root, 'closed')}: the sink is closed`,
    );
  });
});
