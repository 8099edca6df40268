/**
 * The core store on a real directory: zstd-compressed, 0600, the digest of the file, chunks
 * given back once written, and a quota that removes the oldest cores first.
 */
import { createHash, randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CoreStore } from '../ingest/coredump/store.js';
import { unzstd } from './support/zstd.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-core-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const BOOT = 'c4455a40-0000-0000-0000-000000000000';

/** A core of `size` random bytes (they do not compress: stored sizes are predictable). */
async function storeCore(store: CoreStore, pid: number, size: number, sensitive = false) {
  const writer = store.open({ bootId: BOOT, pid, pidfsIno: pid + 1, timeUs: pid }, null, sensitive);
  const bytes = randomBytes(size);
  writer.write(bytes);
  return { stored: await writer.finish(), bytes };
}

describe('core store', () => {
  it('writes a zstd file, 0600, whose SHA-256 is the recorded digest', async () => {
    const store = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const { stored, bytes } = await storeCore(store, 100, 100_000, true);
    expect(stored?.path).toBe(join(dir, 'core.c4455a40.100.101.100.zst'));
    expect(stored?.sensitive).toBe(true);
    const file = readFileSync(stored?.path ?? '');
    expect(statSync(stored?.path ?? '').mode & 0o777).toBe(0o600);
    expect(stored?.stored_size).toBe(file.length);
    expect(createHash('sha256').update(file).digest('hex')).toBe(stored?.sha256);
    expect(unzstd(stored?.path ?? '').equals(bytes)).toBe(true);
  });

  it('keeps a core written in many chunks in order and gives each chunk back once', async () => {
    const store = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const writer = store.open({ bootId: BOOT, pid: 5, pidfsIno: 6, timeUs: 5 }, null, false);
    // Random bytes and zeros in turn, so a later chunk may finish compressing before an
    // earlier one.
    const chunks = Array.from({ length: 24 }, (_, i) =>
      i % 2 === 0 ? randomBytes(256 * 1024) : Buffer.alloc(64 * 1024),
    );
    const given: number[] = [];
    chunks.forEach((chunk, i) => writer.write(chunk, () => given.push(i)));
    const stored = await writer.finish();
    expect(given).toEqual(chunks.map((_, i) => i));
    expect(unzstd(stored?.path ?? '').equals(Buffer.concat(chunks))).toBe(true);
  });

  it('gives every chunk back and leaves no file when a core is aborted', async () => {
    const store = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const writer = store.open({ bootId: BOOT, pid: 8, pidfsIno: 9, timeUs: 8 }, null, false);
    let given = 0;
    for (let i = 0; i < 12; i++) writer.write(randomBytes(256 * 1024), () => given++);
    await writer.abort();
    expect(given).toBe(12);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('removes the oldest cores once the total passes the quota', async () => {
    const probe = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const one = (await storeCore(probe, 1, 200_000)).stored?.stored_size ?? 0;
    utimesSync(join(dir, 'core.c4455a40.1.2.1.zst'), 1000, 1000);
    const store = new CoreStore({ dir, maxBytes: Math.floor(one * 2.5), keepFreeBytes: 0 });
    await storeCore(store, 2, 200_000);
    utimesSync(join(dir, 'core.c4455a40.2.3.2.zst'), 2000, 2000);
    const third = await storeCore(store, 3, 200_000);
    expect(third.stored).not.toBeNull();
    expect(readdirSync(dir).sort()).toEqual(['core.c4455a40.2.3.2.zst', 'core.c4455a40.3.4.3.zst']);
  });

  it('counts the gzip cores of earlier versions in the quota and removes them first', async () => {
    const old = join(dir, 'core.c4455a40.1.2.1.gz');
    writeFileSync(old, randomBytes(300_000));
    utimesSync(old, 1000, 1000);
    const store = new CoreStore({ dir, maxBytes: 400_000, keepFreeBytes: 0 });
    expect((await storeCore(store, 2, 200_000)).stored).not.toBeNull();
    expect(readdirSync(dir)).toEqual(['core.c4455a40.2.3.2.zst']);
  });

  it('drops a core larger than the whole quota and says so with null', async () => {
    const store = new CoreStore({ dir, maxBytes: 1000, keepFreeBytes: 0 });
    expect((await storeCore(store, 7, 200_000)).stored).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });
});
