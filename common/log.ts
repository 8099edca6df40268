/**
 * The one place that holds pidstream's logging policy. Structured pino lines on stderr (stdout
 * belongs to command output such as `cat` and `-` sinks): object first, short fixed message
 * second, errors under `err`.
 *
 * Policy: `info` for start, stop, degraded capabilities and losses; `warn` for a loss or a
 * refused peer; `error` for a failure that stops a component; never one line per event above
 * `debug`.
 */
import pino from 'pino';

export type Logger = pino.Logger;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

let root: Logger | undefined;

export function configureLogging(level: LogLevel = 'info'): Logger {
  root = pino({ level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: false }));
  return root;
}

export function isLogLevel(value: unknown): value is LogLevel {
  return (LOG_LEVELS as readonly unknown[]).includes(value);
}

/**
 * A child logger for one component, e.g. `logger('ingest')`. Before `configureLogging`, the
 * level is PIDSTREAM_LOG_LEVEL's when it names a level (commands that read the configuration
 * report a bad one), else `info`.
 */
export function logger(component: string): Logger {
  const fromEnv = process.env.PIDSTREAM_LOG_LEVEL;
  root ??= configureLogging(isLogLevel(fromEnv) ? fromEnv : 'info');
  return root.child({ component });
}

/**
 * Keeps a repeated warning to one line per key and window: the first occurrence is logged,
 * the rest are counted and the count rides on the next line logged for that key. For things
 * an outsider can repeat at will (a refused status peer), so a flood cannot flood the log.
 */
export class LogThrottle {
  readonly #windowMs: number;
  /** Per key: when it was last logged and how many were held back since. Capped below. */
  readonly #seen = new Map<string, { loggedAt: number; held: number }>();
  static readonly MAX_KEYS = 1024;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Null: hold this one back. A number: log it, with that many held back before it. */
  take(key: string, nowMs = Date.now()): number | null {
    const entry = this.#seen.get(key);
    if (entry !== undefined && nowMs - entry.loggedAt < this.#windowMs) {
      entry.held++;
      return null;
    }
    const held = entry?.held ?? 0;
    // Past the cap the oldest key is forgotten: its next occurrence is simply logged again.
    if (entry === undefined && this.#seen.size >= LogThrottle.MAX_KEYS) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.delete(key);
    this.#seen.set(key, { loggedAt: nowMs, held: 0 });
    return held;
  }
}
