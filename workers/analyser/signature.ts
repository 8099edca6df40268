/**
 * The crash signature: one hex SHA-256 that groups the same crash across hosts and runs.
 *
 * It hashes, one per line: a version tag, the executable's build-id (its path when it has
 * none), the signal number, then the top SIGNATURE_FRAMES frames as `<build-id>+<offset>` in
 * hex (the module path stands in for a missing build-id; `?` for a frame outside every
 * module, since its absolute address moves with ASLR). Offsets are relative to each module's
 * load bias, so the same code at another address gives the same line.
 */
import { createHash } from 'node:crypto';

import type { CoreFrame, CoreModule } from './index.js';

/** Frames from the top of the backtrace that enter the signature. */
export const SIGNATURE_FRAMES = 5;
const VERSION = 'pidstream-crash-signature-v1';

export function crashSignature(
  exe: CoreModule | null,
  signal: number | null,
  backtrace: CoreFrame[],
): string | null {
  if (signal === null || backtrace.length === 0) return null;

  const lines = [VERSION, exe?.build_id ?? exe?.path ?? '?', String(signal)];
  for (const frame of backtrace.slice(0, SIGNATURE_FRAMES)) {
    const key = frame.build_id ?? frame.module;
    lines.push(key === null ? '?' : `${key}+${frame.offset.toString(16)}`);
  }
  return createHash('sha256').update(lines.join('\n')).digest('hex');
}
