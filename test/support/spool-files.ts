/** Looks into a spool directory from outside the agent that writes it. */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { eventType } from '../../schemas/index.js';
import { Spool } from '../../streams/spool.js';

/** How many times `text` occurs in the spool's segments (events carry argv as plain UTF-8). */
export function spoolMentions(dir: string, text: string): number {
  let count = 0;
  const needle = Buffer.from(text);
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.seg'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw err;
  }
  for (const name of names) {
    const data = readFileSync(join(dir, name));
    for (let at = data.indexOf(needle); at !== -1; at = data.indexOf(needle, at + 1)) count++;
  }
  return count;
}

/**
 * Polls `check` until it holds or `timeoutMs` passes; `refresh`, when given, runs before each
 * check (for state that must be fetched, such as a topic's contents).
 */
export async function waitFor(
  what: string,
  check: () => boolean,
  timeoutMs = 60_000,
  refresh?: () => Promise<void>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await refresh?.();
    if (check()) return;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, refresh === undefined ? 100 : 1_000));
  }
}

/** Every unacknowledged event in a spool no process has open, decoded. */
export function spooledEvents(dir: string): Record<string, unknown>[] {
  const spool = Spool.open({ dir, maxBytes: 1 << 30, fsync: 'none' });
  const out: Record<string, unknown>[] = [];
  try {
    for (;;) {
      const batch = spool.read(1000, 1 << 24);
      if (batch.length === 0) break;
      for (const r of batch) {
        out.push({ ...(eventType(r.name).fromBuffer(r.bytes) as object), type: r.name });
      }
    }
  } finally {
    spool.close();
  }
  return out;
}
