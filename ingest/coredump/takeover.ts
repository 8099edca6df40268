/**
 * Taking over /proc/sys/kernel/core_pattern, and giving it back.
 *
 * The previous pattern is written to a state file before core_pattern changes, so that an agent
 * that died without restoring it (SIGKILL, power loss of the process) is repaired by the next
 * start: that start either takes the pattern over again, keeping the original in the state
 * file, or, with crash capture off, puts the original back.
 */
import { readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { PidstreamError } from '../../common/errors.js';

export const CORE_PATTERN_PATH = '/proc/sys/kernel/core_pattern';

/** How crashes reach the agent on this kernel. */
export type CaptureMode =
  /** `@@path`: request/ack protocol, Linux 6.17. */
  | 'socket-ack'
  /** `@path`: the kernel writes the core at once, no policy before the dump, Linux 6.16. */
  | 'socket'
  /** No socket form accepted: crash capture is off. */
  | 'off';

export interface CorePatternState {
  /** The pattern to put back: what core_pattern held before any pidstream agent took it. */
  previous: string;
  /** The pattern the agent wrote. */
  ours: string;
  /** The agent process that wrote it. */
  pid: number;
}

export interface Takeover {
  mode: CaptureMode;
  /** The pattern written, or null when capture is off. */
  pattern: string | null;
  /** The pattern that will be restored. */
  previous: string;
  /** Why capture is off, or why the request/ack form was not used. */
  reason: string | null;
  /** True when a state file of an agent that died was found and repaired. */
  recovered: boolean;
}

export function readCorePattern(path = CORE_PATTERN_PATH): string {
  return readFileSync(path, 'utf8').replace(/\n$/, '');
}

function readState(statePath: string): CorePatternState | null {
  let text: string;
  try {
    text = readFileSync(statePath, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  try {
    const state = JSON.parse(text) as Partial<CorePatternState>;
    if (typeof state.previous === 'string' && typeof state.ours === 'string') {
      return { previous: state.previous, ours: state.ours, pid: Number(state.pid ?? 0) };
    }
  } catch (err) {
    throw new PidstreamError(
      'PIDSTREAM_ERR_STATE',
      `reading core_pattern state ${statePath}: not JSON`,
      { cause: err },
    );
  }
  throw new PidstreamError(
    'PIDSTREAM_ERR_STATE',
    `reading core_pattern state ${statePath}: no "previous" and "ours" strings`,
  );
}

/** Written to a temporary name and renamed, so a crash never leaves half a state file. */
function writeState(statePath: string, state: CorePatternState): void {
  mkdirSync(dirname(statePath), { recursive: true, mode: 0o755 });
  const tmp = `${statePath}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state)}\n`, { mode: 0o600 });
  renameSync(tmp, statePath);
}

/** Writes `pattern`; returns false when the kernel refuses its form (EINVAL). */
function tryWrite(pattern: string, path: string): boolean {
  try {
    writeFileSync(path, pattern);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EINVAL') return false;
    throw err;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Another live agent that holds core_pattern (its state file names it and the pattern is
 * still its own), or null. Two agents on one host must not fight over the pattern or the
 * socket: the second runs without crash capture.
 */
export function corePatternHolder(
  statePath: string,
  patternPath = CORE_PATTERN_PATH,
): CorePatternState | null {
  const state = readState(statePath);
  if (state === null || state.pid === process.pid || !alive(state.pid)) return null;
  return readCorePattern(patternPath) === state.ours ? state : null;
}

/**
 * The pattern that was there before pidstream: from a dead agent's state file while
 * core_pattern still holds what that agent wrote, otherwise the current pattern.
 */
function originalPattern(current: string, stale: CorePatternState | null): string {
  if (stale !== null && current === stale.ours) return stale.previous;
  return current;
}

/**
 * Points core_pattern at `socketPath`: `@@` first, `@` when the kernel refuses `@@` (Linux
 * 6.16), nothing when it refuses both (before 6.16: crash capture is off, exits go on).
 */
export function takeOverCorePattern(
  socketPath: string,
  statePath: string,
  patternPath = CORE_PATTERN_PATH,
): Takeover {
  const stale = readState(statePath);
  const current = readCorePattern(patternPath);
  const previous = originalPattern(current, stale);
  const recovered = stale !== null;

  for (const [mode, pattern] of [
    ['socket-ack', `@@${socketPath}`],
    ['socket', `@${socketPath}`],
  ] as const) {
    writeState(statePath, { previous, ours: pattern, pid: process.pid });
    if (tryWrite(pattern, patternPath)) {
      const reason = mode === 'socket' ? 'the kernel refused @@ (needs Linux 6.17)' : null;
      return { mode, pattern, previous, reason, recovered };
    }
  }
  rmSync(statePath, { force: true });
  if (current !== previous) tryWrite(previous, patternPath);
  return {
    mode: 'off',
    pattern: null,
    previous,
    reason: 'the kernel refused both @@ and @ core_pattern socket forms (needs Linux 6.16)',
    recovered,
  };
}

/**
 * Puts the previous pattern back, unless someone changed core_pattern after the agent took it
 * (then theirs stays). Removes the state file. Returns the pattern left in place.
 */
export function restoreCorePattern(
  takeover: Takeover,
  statePath: string,
  patternPath = CORE_PATTERN_PATH,
): string {
  const current = readCorePattern(patternPath);
  if (takeover.pattern !== null && current === takeover.pattern) {
    writeFileSync(patternPath, takeover.previous);
  }
  rmSync(statePath, { force: true });
  return readCorePattern(patternPath);
}

/**
 * With crash capture off (`--no-coredumps`): repairs what a dead agent left behind. Returns the
 * restored pattern, or null when there was nothing to repair.
 */
export function repairStaleCorePattern(
  statePath: string,
  patternPath = CORE_PATTERN_PATH,
): string | null {
  const stale = readState(statePath);
  if (stale === null || corePatternHolder(statePath, patternPath) !== null) return null;
  if (readCorePattern(patternPath) === stale.ours) writeFileSync(patternPath, stale.previous);
  rmSync(statePath, { force: true });
  return readCorePattern(patternPath);
}
