/**
 * The coredump server's reader thread on real AF_UNIX stream sockets: a client in this process
 * writes, the thread reads into its slots, and the tests play the server's part (holding and
 * giving back slots) to see the stream's order and the back-pressure of the slots.
 */
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { CoreRanges } from '../ingest/coredump/ranges.js';
import { CoreReader, type CoreSink } from '../ingest/coredump/reader.js';
import { type Kept, READ_CHUNK_BYTES, READ_SLOTS } from '../ingest/coredump/reader-protocol.js';
import { accept, close } from '../native/libc.js';
import { listenUnix } from '../native/unix-socket.js';

/** How long a reader that should be waiting is watched for a chunk it must not deliver. */
const QUIET_MS = 300;
const WAIT_MS = 10_000;

const dir = mkdtempSync(join(tmpdir(), 'pidstream-coredump-reader-'));
const socketPath = join(dir, 'reader.sock');
let listenFd = -1;
let reader: CoreReader;
const open: { client: Socket; fd: number }[] = [];

beforeAll(() => {
  listenFd = listenUnix(socketPath, 4);
  reader = new CoreReader(() => {
    throw new Error('the reader thread died');
  });
});

afterEach(() => {
  for (const { client, fd } of open.splice(0)) {
    client.destroy();
    close(fd);
  }
});

afterAll(async () => {
  await reader.close();
  close(listenFd);
  rmSync(dir, { recursive: true, force: true });
});

/** A connected pair: the client end in this process, the accepted (blocking) descriptor. */
async function connection(): Promise<{ client: Socket; fd: number }> {
  const client = connect(socketPath);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', resolve);
    client.once('error', reject);
  });
  let fd = accept(listenFd);
  while (fd < 0) {
    await sleep(5);
    fd = accept(listenFd);
  }
  const pair = { client, fd };
  open.push(pair);
  return pair;
}

/** `size` bytes that differ at every offset's 32-bit word, so a lost or moved chunk shows. */
function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let at = 0; at + 4 <= size; at += 4) bytes.writeUInt32LE(at, at);
  return bytes;
}

interface Holding {
  /** The nth chunk is kept (not released) until the test releases it. */
  keep?: (index: number) => boolean;
  /** The nth chunk gets a second holder (as the compressor would be), released by the test. */
  retain?: (index: number) => boolean;
}

/** A sink that records what came and releases each chunk at once unless told otherwise. */
class Recorder implements CoreSink {
  readonly slots: number[] = [];
  readonly sizes: number[] = [];
  /** The chunks as delivered: views of the reader's slots, valid while held. */
  readonly chunks: Buffer[] = [];
  readonly hash = createHash('sha256');
  readonly ended: Promise<Error | null>;
  /** What the thread kept itself, once ended. */
  kept: Kept | null = null;
  #end: (err: Error | null) => void = () => undefined;
  readonly #holding: Holding;

  constructor(holding: Holding = {}) {
    this.#holding = holding;
    this.ended = new Promise((resolve) => (this.#end = resolve));
  }

  onChunk(slot: number, chunk: Buffer): void {
    const index = this.slots.length;
    this.hash.update(chunk);
    this.slots.push(slot);
    this.sizes.push(chunk.length);
    this.chunks.push(chunk);
    if (this.#holding.retain?.(index) === true) reader.retain(slot);
    if (this.#holding.keep?.(index) !== true) reader.release(slot);
  }

  onEnd(err: Error | null, kept: Kept): void {
    this.kept = kept;
    this.#end(err);
  }

  async waitForChunks(count: number): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (this.slots.length < count) {
      if (Date.now() > deadline) throw new Error(`${this.slots.length} of ${count} chunks came`);
      await sleep(5);
    }
  }
}

describe('core reader thread', () => {
  it('delivers a stream whole and in order, in chunks of one slot', async () => {
    const { client, fd } = await connection();
    const bytes = pattern(20 * READ_CHUNK_BYTES + 12_345);
    const sink = new Recorder();
    reader.read(fd, sink);
    client.end(bytes);

    expect(await sink.ended).toBeNull();
    expect(sink.sizes).toEqual([...Array<number>(20).fill(READ_CHUNK_BYTES), 12_345]);
    expect(sink.hash.digest('hex')).toBe(createHash('sha256').update(bytes).digest('hex'));
    expect(reader.busy).toBe(false);
  });

  it('stops reading while every slot is held, and goes on as they are given back', async () => {
    const { client, fd } = await connection();
    const held = new Recorder({ keep: () => true });
    reader.read(fd, held);
    client.end(pattern(3 * READ_SLOTS * READ_CHUNK_BYTES));

    await held.waitForChunks(READ_SLOTS);
    await sleep(QUIET_MS);
    expect(held.slots).toHaveLength(READ_SLOTS);
    expect(client.writableFinished).toBe(false);

    expect(new Set(held.slots).size).toBe(READ_SLOTS);
    reader.release(held.slots[3]!);
    await held.waitForChunks(READ_SLOTS + 1);
    await sleep(QUIET_MS);
    expect(held.slots).toHaveLength(READ_SLOTS + 1);
    expect(held.slots[READ_SLOTS]).toBe(held.slots[3]);
    for (const [i, slot] of held.slots.entries()) if (i !== 3) reader.release(slot);
    await held.waitForChunks(2 * READ_SLOTS + 1);
    await sleep(QUIET_MS);
    expect(held.slots).toHaveLength(2 * READ_SLOTS + 1);
    for (const slot of held.slots.slice(READ_SLOTS + 1)) reader.release(slot);
    await held.waitForChunks(3 * READ_SLOTS);
    for (const slot of held.slots.slice(2 * READ_SLOTS + 1)) reader.release(slot);
    expect(await held.ended).toBeNull();
    expect(held.slots).toHaveLength(3 * READ_SLOTS);
  });

  it('does not fill a slot again until the last holder of its chunk gives it back', async () => {
    const { client, fd } = await connection();
    const bytes = pattern(2 * READ_SLOTS * READ_CHUNK_BYTES);
    const sink = new Recorder({ retain: (index) => index === 0 });
    reader.read(fd, sink);
    client.end(bytes);

    expect(await sink.ended).toBeNull();
    expect(sink.slots).toHaveLength(2 * READ_SLOTS);
    expect(sink.slots.slice(1)).not.toContain(sink.slots[0]);
    expect(sink.chunks[0]?.equals(bytes.subarray(0, READ_CHUNK_BYTES))).toBe(true);
    reader.release(sink.slots[0]!);
  });

  it('ends a read waiting for bytes when stopped, and the writer then sees EPIPE', async () => {
    const { client, fd } = await connection();
    const sink = new Recorder();
    reader.read(fd, sink);
    client.write(pattern(100));
    await sleep(QUIET_MS);
    expect(sink.slots).toHaveLength(0);

    reader.stop();
    expect(await sink.ended).toBeNull();
    expect(sink.sizes).toEqual([100]);
    const failed = new Promise<NodeJS.ErrnoException>((resolve) => client.once('error', resolve));
    client.write(pattern(100));
    expect((await failed).code).toBe('EPIPE');
  });

  it('reports a recv that fails with the call and errno', async () => {
    const fd = openSync('/dev/null', 'r');
    try {
      const sink = new Recorder();
      reader.read(fd, sink);
      const err = await sink.ended;
      expect(err?.message).toBe(`recv(${fd}): ENOTSOCK`);
      expect(sink.slots).toHaveLength(0);
      expect(reader.busy).toBe(false);
    } finally {
      closeSync(fd);
    }
  });

  it('closes a thread at once after it was started, once it has loaded its modules', async () => {
    // Terminated inside koffi's initialisation, a thread aborts the whole process.
    const readers = Array.from({ length: 4 }, () => new CoreReader(() => undefined));
    expect(readers.map((r) => r.loaded)).toEqual([false, false, false, false]);
    await Promise.all(readers.map((r) => r.close()));
    expect(readers.map((r) => r.loaded)).toEqual([true, true, true, true]);
    expect(readers.map((r) => r.dead)).toEqual([null, null, null, null]);
  });

  describe('after a keep', () => {
    const C = READ_CHUNK_BYTES;
    /** A range inside the first chunk, one across its end, one further on, one past the end. */
    const planned = [
      { offset: 100, length: 50 },
      { offset: C - 10, length: 20 },
      { offset: 3 * C + 5, length: 4096 },
      { offset: 6 * C + 700, length: 200 },
    ];

    /** Sends the first chunk, hands the ranges over once it came, then sends the rest. */
    async function readWithKeep(
      bytes: Buffer,
      maxBytes: number,
    ): Promise<{ sink: Recorder; ranges: CoreRanges; client: Socket }> {
      const { client, fd } = await connection();
      client.on('error', () => undefined);
      const ranges = new CoreRanges(planned);
      const sink = new Recorder();
      reader.read(fd, sink);
      client.write(bytes.subarray(0, C));
      await sink.waitForChunks(1);
      ranges.fill(0, bytes.subarray(0, C));
      reader.keep(ranges.shared(), maxBytes);
      client.end(bytes.subarray(C));
      expect(await sink.ended).toBeNull();
      return { sink, ranges, client };
    }

    it('copies the planned ranges itself, posts no more chunks and says how much it kept', async () => {
      const bytes = pattern(6 * C + 777);
      const { sink, ranges } = await readWithKeep(bytes, 64 * C);

      expect(sink.sizes).toEqual([C]);
      expect(sink.kept).toEqual({ bytes: 5 * C + 777, truncated: false });
      const got = ranges.result(bytes.length).map((r) => [r.offset, Buffer.from(r.bytes)]);
      expect(got).toEqual([
        [100, bytes.subarray(100, 150)],
        [C - 10, bytes.subarray(C - 10, C + 10)],
        [3 * C + 5, bytes.subarray(3 * C + 5, 3 * C + 5 + 4096)],
        [6 * C + 700, bytes.subarray(6 * C + 700, 6 * C + 777)],
      ]);
      expect(reader.busy).toBe(false);
    });

    it('stops at the size cap, counted from the first byte, and says the stream was cut', async () => {
      const bytes = pattern(6 * C + 777);
      const { sink, ranges, client } = await readWithKeep(bytes, 3 * C + 1000);

      expect(sink.sizes).toEqual([C]);
      expect(sink.kept).toEqual({ bytes: 2 * C + 1000, truncated: true });
      const third = ranges.result(3 * C + 1000)[2];
      expect(third?.offset).toBe(3 * C + 5);
      expect(Buffer.from(third?.bytes ?? [])).toEqual(bytes.subarray(3 * C + 5, 3 * C + 1000));
      // The read side is shut: the writer cannot finish.
      expect(client.writableFinished).toBe(false);
    });

    it('keeps nothing when the keep comes after the read ended', async () => {
      const { client, fd } = await connection();
      const ranges = new CoreRanges(planned);
      const sink = new Recorder();
      reader.read(fd, sink);
      client.end(pattern(2 * C));
      expect(await sink.ended).toBeNull();
      reader.keep(ranges.shared(), 64 * C);
      expect(sink.kept).toEqual({ bytes: 0, truncated: false });
      expect(sink.sizes).toEqual([C, C]);

      // The next read is not affected by the late keep.
      const next = await connection();
      const again = new Recorder();
      reader.read(next.fd, again);
      next.client.end(pattern(C + 5));
      expect(await again.ended).toBeNull();
      expect(again.sizes).toEqual([C, 5]);
      expect(again.kept).toEqual({ bytes: 0, truncated: false });
    });
  });
});
