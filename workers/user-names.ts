/**
 * uid → user name from a passwd file (`/etc/passwd` on a host). The file is parsed whole and
 * re-read when its inode, size or mtime changes; `refresh()` checks that with one stat, and the
 * encoder calls it once per batch rather than per event.
 */
import { readFileSync, statSync } from 'node:fs';

/** Lines beyond this are ignored (a passwd file that large is not a host's own database). */
export const PASSWD_MAX_ENTRIES = 1_000_000;

export class UserNames {
  readonly path: string;
  #names = new Map<number, string>();
  #version = '';
  /** Loads so far; the first counts. */
  loads = 0;

  constructor(path: string) {
    this.path = path;
  }

  /** Why the last load found no names (the file missing or unreadable), or null. */
  lastError: string | null = null;

  /**
   * Re-reads the file when it changed. A missing or unreadable file leaves no names (events
   * then carry a null `user`) and says why in `lastError`; it never fails a batch.
   */
  refresh(): void {
    let version: string;
    let text = '';
    try {
      const st = statSync(this.path);
      version = `${st.ino}:${st.size}:${st.mtimeMs}`;
      if (version === this.#version) return;
      text = readFileSync(this.path, 'utf8');
      this.lastError = null;
    } catch (err) {
      version = 'unreadable';
      if (version === this.#version) return;
      this.lastError = `reading ${this.path}: ${(err as Error).message}`;
    }
    this.#names = parsePasswd(text);
    this.#version = version;
    this.loads++;
  }

  name(uid: number): string | null {
    return this.#names.get(uid) ?? null;
  }
}

/** `name:password:uid:gid:gecos:home:shell` lines; the first name of a uid wins, as in getpwuid. */
export function parsePasswd(text: string): Map<number, string> {
  const names = new Map<number, string>();
  const lines = text.split('\n', PASSWD_MAX_ENTRIES);
  for (const line of lines) {
    const fields = line.split(':', 4);
    if (fields.length < 4 || fields[0] === '' || !/^\d+$/.test(fields[2] ?? '')) continue;
    const uid = Number(fields[2]);
    if (!names.has(uid)) names.set(uid, fields[0] as string);
  }
  return names;
}
