/**
 * The core store on a real directory: compressed, 0600, the digest of the file, and a quota
 * that removes the oldest cores first.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { CoreStore } from '../ingest/coredump/store.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-core-store-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** A core of `size` random bytes (incompressible, so stored sizes are predictable). */
async function storeCore(store: CoreStore, pid: number, size: number, sensitive = false) {
  const writer = store.open(
    { bootId: 'c4455a40-0000-0000-0000-000000000000', pid, pidfsIno: pid + 1, timeUs: pid },
    null,
    sensitive,
  );
  const core = createHash('sha512').update(String(pid)).digest();
  const bytes = Buffer.alloc(size);
  for (let at = 0; at < size; at += core.length) core.copy(bytes, at);
  for (let i = 0; i < size; i++) bytes[i] = (bytes[i] ?? 0) ^ ((i * 2654435761) >>> 24);
  writer.write(bytes);
  return { stored: await writer.finish(), bytes };
}

describe('core store', () => {
  it('writes a gzip file, 0600, whose SHA-256 is the recorded digest', async () => {
    const store = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const { stored, bytes } = await storeCore(store, 100, 100_000, true);
    expect(stored?.path).toBe(join(dir, 'core.c4455a40.100.101.100.gz'));
    expect(stored?.sensitive).toBe(true);
    const file = readFileSync(stored?.path ?? '');
    expect(statSync(stored?.path ?? '').mode & 0o777).toBe(0o600);
    expect(stored?.stored_size).toBe(file.length);
    expect(createHash('sha256').update(file).digest('hex')).toBe(stored?.sha256);
    expect(gunzipSync(file).equals(bytes)).toBe(true);
  });

  it('removes the oldest cores once the total passes the quota', async () => {
    const probe = new CoreStore({ dir, maxBytes: 1 << 30, keepFreeBytes: 0 });
    const one = (await storeCore(probe, 1, 200_000)).stored?.stored_size ?? 0;
    utimesSync(join(dir, 'core.c4455a40.1.2.1.gz'), 1000, 1000);
    const store = new CoreStore({ dir, maxBytes: Math.floor(one * 2.5), keepFreeBytes: 0 });
    await storeCore(store, 2, 200_000);
    utimesSync(join(dir, 'core.c4455a40.2.3.2.gz'), 2000, 2000);
    const third = await storeCore(store, 3, 200_000);
    expect(third.stored).not.toBeNull();
    expect(readdirSync(dir).sort()).toEqual(['core.c4455a40.2.3.2.gz', 'core.c4455a40.3.4.3.gz']);
  });

  it('drops a core larger than the whole quota and says so with null', async () => {
    const store = new CoreStore({ dir, maxBytes: 1000, keepFreeBytes: 0 });
    expect((await storeCore(store, 7, 200_000)).stored).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
  });
});
