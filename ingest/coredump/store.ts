/**
 * Keeping cores on disk: zstd-compressed as they stream in, mode 0600, with the SHA-256 of
 * the stored file (what `sha256sum` prints for it). Hashing the compressed bytes rather than
 * the core costs a fraction: a 1 GiB core is mostly zero pages and compresses a hundredfold,
 * and SHA-256 of the raw stream alone would cap the server near 500 MiB/s on the project's
 * machines (`npm run bench:cores`). The directory has a quota, by total size and by free space
 * kept on its file system; the oldest cores go first. A core the kernel marked
 * PIDFD_COREDUMP_ROOT (the process had privileges its owner lacks) stays root-owned and is
 * marked sensitive; any other core is handed to the user the process ran as, so they can read
 * their own crash.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { chown, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';

import { PidstreamError } from '../../common/errors.js';
import { requireZstd, zstdCompressBound, ZstdContext } from '../../native/zstd.js';

export interface CoreStoreOptions {
  dir: string;
  /** Total bytes of stored cores kept; the oldest are removed beyond it. */
  maxBytes: number;
  /** Free bytes left on the store's file system; the oldest cores are removed to keep them. */
  keepFreeBytes: number;
}

export interface StoredCore {
  path: string;
  stored_size: number;
  sha256: string;
  sensitive: boolean;
}

/**
 * zstd level 1, one frame per chunk. Speed is what matters: compression is in the crashing
 * process's path (the store's back-pressure holds the dump), and the project's 2-core machine
 * has no CPU to spare while a core streams. On one thread, zstd level 1 took the benchmark's
 * heap core (one word per page, the rest zeros) at about 8 GiB/s where gzip level 1 with
 * Z_RLE managed 1.2, and the first 64 MiB of the node binary (code and data, as in a real
 * core) at about 420 MiB/s, compressed 2.4 to 1, where gzip managed 105 MiB/s at 1.5 to 1.
 * With gzip the stored stream was held near 800 MiB/s by the compressor (docs/coredumps.md).
 */
const ZSTD_LEVEL = 1;
/**
 * Chunks compressed at once, each by its own context on its own libuv thread: a core that
 * compresses slowly (code and data rather than zero pages) uses a second CPU where there is one.
 */
const COMPRESSIONS_AT_ONCE = 2;
/** Stored cores; `.gz` ones were kept by pidstream before it stored zstd, and count too. */
const CORE_FILE = /^core\..+\.(zst|gz)$/;

export interface CoreFileName {
  bootId: string;
  pid: number;
  pidfsIno: number | null;
  timeUs: number;
}

/** A context with its output buffer, busy with one frame until the frame is copied out. */
interface Compressor {
  zstd: ZstdContext;
  out: Buffer;
}

/** One chunk on its way to the file. */
interface Frame {
  chunk: Buffer;
  done: (() => void) | undefined;
  /** Set from the start of compression until the frame is copied out. */
  compressor: Compressor | null;
  /** The frame's size once compressed; -1 before. */
  bytes: number;
}

/**
 * Compressed bytes gathered before one write to the file: a frame of zero pages is a few
 * kilobytes, and a write per frame cost more CPU on the main thread than the compression.
 */
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Compressed bytes waiting for the disk beyond which chunks are given back only as it drains. */
const FILE_QUEUE_MAX_BYTES = 8 * 1024 * 1024;

/** One core being written. */
export class CoreWriter {
  readonly #file: WriteStream;
  readonly #closed: Promise<void>;
  readonly #hash = createHash('sha256');
  readonly #tmp: string;
  readonly #final: string;
  readonly #store: CoreStore;
  readonly #owner: number | null;
  readonly sensitive: boolean;
  /** Compressors not in use; at most COMPRESSIONS_AT_ONCE are ever made. */
  readonly #idle: Compressor[] = [];
  #made = 0;
  /** Chunks not yet compressed and copied out, in stream order. */
  #frames: Frame[] = [];
  /** Chunks copied out whose `done` waits for the file's queue to drain. */
  #behind: Frame[] = [];
  /** Chunks taken whose `done` has not run yet. */
  #held = 0;
  #whenDrained: (() => void)[] = [];
  #batch = Buffer.allocUnsafe(WRITE_BATCH_BYTES);
  #batched = 0;
  #failed: Error | null = null;

  constructor(
    store: CoreStore,
    tmp: string,
    final: string,
    owner: number | null,
    sensitive: boolean,
  ) {
    this.#store = store;
    this.#tmp = tmp;
    this.#final = final;
    this.#owner = owner;
    this.sensitive = sensitive;
    this.#file = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
    this.#closed = new Promise((resolve) => this.#file.once('close', resolve));
    this.#file.on('error', (err) => this.#fail(err));
    this.#file.on('drain', () => {
      for (const frame of this.#behind.splice(0)) this.#giveBack(frame);
    });
  }

  /**
   * Queues a chunk for the compressor, which reads it in place: `chunk` must stay as it is
   * until `done` runs, once its frame is compressed (or it was dropped, after a failure or
   * `abort`). The caller bounds the queue: the coredump server by its reader's slots, and
   * chunks are given back only as fast as the disk takes their frames, so a slow disk holds
   * the crash back instead of growing the agent's memory.
   */
  write(chunk: Buffer, done?: () => void): void {
    if (this.#failed !== null) {
      done?.();
      return;
    }
    this.#held++;
    this.#frames.push({ chunk, done, compressor: null, bytes: -1 });
    this.#compressNext();
  }

  /** Flushes, fsyncs and names the file; returns where it went, or null when it was removed. */
  async finish(): Promise<StoredCore | null> {
    await this.#drained();
    if (this.#failed === null) this.#flush();
    this.#file.end();
    await this.#closed;
    this.#freeCompressors();
    if (this.#failed !== null) {
      await rm(this.#tmp, { force: true });
      throw new PidstreamError(
        'PIDSTREAM_ERR_CORE',
        `storing core ${this.#final}: ${this.#failed.message}`,
        { cause: this.#failed },
      );
    }
    const handle = await open(this.#tmp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (this.#owner !== null && !this.sensitive) await chown(this.#tmp, this.#owner, 0);
    await rename(this.#tmp, this.#final);
    const size = (await stat(this.#final)).size;
    const kept = await this.#store.enforceQuota(this.#final);
    if (!kept) return null;
    return {
      path: this.#final,
      stored_size: size,
      sha256: this.#hash.digest('hex'),
      sensitive: this.sensitive,
    };
  }

  /** Drops the partial file; every chunk is given back. */
  async abort(): Promise<void> {
    this.#fail(new Error('the core is not kept'));
    await this.#drained();
    this.#file.destroy();
    await this.#closed;
    this.#freeCompressors();
    await rm(this.#tmp, { force: true });
  }

  /** Starts compressing queued chunks while a compressor is free; never throws. */
  #compressNext(): void {
    try {
      for (const frame of this.#frames) {
        if (frame.compressor !== null) continue;
        const compressor = this.#compressor(frame.chunk.length);
        if (compressor === null) return;
        try {
          compressor.zstd.compress(frame.chunk, compressor.out, (err, bytes) =>
            this.#compressed(frame, err, bytes),
          );
        } catch (err) {
          this.#idle.push(compressor);
          throw err;
        }
        frame.compressor = compressor;
      }
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #compressed(frame: Frame, err: Error | null, bytes: number): void {
    if (err !== null) this.#fail(err);
    if (this.#failed !== null) {
      this.#frames = this.#frames.filter((f) => f !== frame);
      this.#copiedOut(frame);
      this.#giveBack(frame);
      return;
    }
    frame.bytes = bytes;
    // Frames go to the file in stream order, whichever compression ends first.
    while (this.#frames.length > 0 && (this.#frames[0] as Frame).bytes >= 0) {
      const next = this.#frames.shift() as Frame;
      const compressed = (next.compressor as Compressor).out.subarray(0, next.bytes);
      this.#hash.update(compressed);
      this.#append(compressed);
      this.#copiedOut(next);
      if (this.#file.writableLength >= FILE_QUEUE_MAX_BYTES) this.#behind.push(next);
      else this.#giveBack(next);
    }
    this.#compressNext();
  }

  /** Copies a frame into the batch, writing the batch out when it is full. */
  #append(compressed: Buffer): void {
    if (this.#batched + compressed.length > this.#batch.length) this.#flush();
    if (compressed.length > this.#batch.length) {
      this.#file.write(Buffer.from(compressed));
      return;
    }
    compressed.copy(this.#batch, this.#batched);
    this.#batched += compressed.length;
  }

  #flush(): void {
    if (this.#batched === 0) return;
    this.#file.write(this.#batch.subarray(0, this.#batched));
    this.#batch = Buffer.allocUnsafe(WRITE_BATCH_BYTES);
    this.#batched = 0;
  }

  /** A free compressor whose buffer holds a frame of `srcBytes`, or null when all are busy. */
  #compressor(srcBytes: number): Compressor | null {
    let compressor = this.#idle.pop();
    if (compressor === undefined) {
      if (this.#made >= COMPRESSIONS_AT_ONCE) return null;
      this.#made++;
      compressor = { zstd: new ZstdContext(ZSTD_LEVEL), out: Buffer.alloc(0) };
    }
    const bound = zstdCompressBound(srcBytes);
    if (compressor.out.length < bound) compressor.out = Buffer.allocUnsafe(bound);
    return compressor;
  }

  /** The frame's compressor is free for the next chunk. */
  #copiedOut(frame: Frame): void {
    if (frame.compressor !== null) this.#idle.push(frame.compressor);
    frame.compressor = null;
  }

  /** The chunk goes back to its owner. */
  #giveBack(frame: Frame): void {
    frame.done?.();
    this.#held--;
    if (this.#held === 0) for (const resolve of this.#whenDrained.splice(0)) resolve();
  }

  /** The first failure wins; chunks not being compressed are given back at once. */
  #fail(err: Error): void {
    this.#failed ??= err;
    const waiting = this.#frames.filter((f) => f.compressor === null || f.bytes >= 0);
    this.#frames = this.#frames.filter((f) => !waiting.includes(f));
    for (const frame of [...waiting, ...this.#behind.splice(0)]) {
      this.#copiedOut(frame);
      this.#giveBack(frame);
    }
  }

  /** Resolves once every chunk taken has been given back. */
  #drained(): Promise<void> {
    if (this.#held === 0) return Promise.resolve();
    return new Promise((resolve) => this.#whenDrained.push(resolve));
  }

  #freeCompressors(): void {
    for (const compressor of this.#idle.splice(0)) compressor.zstd.free();
  }
}

export class CoreStore {
  readonly options: Readonly<CoreStoreOptions>;

  constructor(options: Readonly<CoreStoreOptions>) {
    this.options = options;
    // A host without libzstd is told at start, not at its first crash.
    requireZstd();
    // 0711: users reach their own cores by name but cannot list the others.
    mkdirSync(options.dir, { recursive: true, mode: 0o711 });
  }

  /** Starts a core file; `owner` is the uid that may read it unless it is sensitive. */
  open(name: CoreFileName, owner: number | null, sensitive: boolean): CoreWriter {
    const base = `core.${name.bootId.slice(0, 8)}.${name.pid}.${name.pidfsIno ?? 0}.${name.timeUs}`;
    const final = join(this.options.dir, `${base}.zst`);
    return new CoreWriter(
      this,
      join(this.options.dir, `.${base}.partial`),
      final,
      owner,
      sensitive,
    );
  }

  /** Free bytes on the store's file system. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.options.dir);
    return s.bavail * s.bsize;
  }

  /**
   * Removes the oldest cores until the total fits `maxBytes` and `keepFreeBytes` are free.
   * Returns whether `newest` survived (a single core larger than the quota does not).
   */
  async enforceQuota(newest: string): Promise<boolean> {
    const files: { path: string; size: number; mtimeMs: number }[] = [];
    for (const entry of await readdir(this.options.dir)) {
      if (!CORE_FILE.test(entry)) continue;
      const path = join(this.options.dir, entry);
      const s = await stat(path);
      files.push({ path, size: s.size, mtimeMs: s.mtimeMs });
    }
    files.sort((a, b) => a.mtimeMs - b.mtimeMs || (a.path < b.path ? -1 : 1));
    let total = files.reduce((sum, f) => sum + f.size, 0);
    let free = await this.freeBytes();
    let kept = true;
    for (const f of files) {
      if (total <= this.options.maxBytes && free >= this.options.keepFreeBytes) break;
      await rm(f.path, { force: true });
      total -= f.size;
      free += f.size;
      if (f.path === newest) kept = false;
    }
    return kept;
  }
}
