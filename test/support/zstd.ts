/**
 * Reading stored cores back with the zstd command, an implementation apart from the agent's
 * own use of libzstd; it also checks each frame's checksum.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The decompressed bytes of the zstd file at `path`. */
export function unzstd(path: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-unzstd-'));
  try {
    const out = join(dir, 'core');
    execFileSync('zstd', ['--decompress', '--quiet', '-o', out, path]);
    return readFileSync(out);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
