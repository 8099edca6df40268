/**
 * /proc/sys/kernel/core_pattern is global to the machine. Tests that change it take an
 * exclusive lock (so no two test processes change it at once) and restore the previous value
 * in every outcome.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
const LOCK = '/run/pidstream-test-core-pattern.lock';
const LOCK_WAIT_MS = 300_000;

export function readCorePattern(): string {
  return readFileSync(CORE_PATTERN, 'utf8').replace(/\n$/, '');
}

export function writeCorePattern(pattern: string): void {
  writeFileSync(CORE_PATTERN, pattern);
}

function removeLock(): void {
  try {
    unlinkSync(LOCK);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Takes the lock file, breaking it when its holder has died; returns the release. */
async function acquire(): Promise<() => void> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    try {
      const fd = openSync(LOCK, 'wx');
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      return removeLock;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = Number(readFileSync(LOCK, 'utf8') || 0);
    if (holder > 0 && !alive(holder)) {
      removeLock();
      continue;
    }
    if (Date.now() > deadline) throw new Error(`core_pattern lock ${LOCK} held by pid ${holder}`);
    await sleep(100);
  }
}

/**
 * Runs `body` holding the core_pattern lock, and restores core_pattern to what it was before,
 * whether `body` succeeds, throws, or the agent under test left it changed.
 */
export async function withCorePattern<T>(body: (original: string) => Promise<T>): Promise<T> {
  const release = await acquire();
  const original = readCorePattern();
  try {
    return await body(original);
  } finally {
    if (readCorePattern() !== original) writeCorePattern(original);
    release();
  }
}
