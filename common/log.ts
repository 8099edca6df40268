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

/** A child logger for one component, e.g. `logger('ingest')`. */
export function logger(component: string): Logger {
  root ??= configureLogging((process.env.PIDSTREAM_LOG_LEVEL as LogLevel | undefined) ?? 'info');
  return root.child({ component });
}
