/**
 * The shape of pidstream's configuration: every key, its type, what a bad value is told it
 * should be, and its default. common/config.ts layers the file, the environment and the flags
 * over these defaults and validates the result against this schema.
 *
 * Keys are snake_case, as they appear in the TOML file; the environment name of a key is
 * derived from its path (`spool.max_bytes` is `PIDSTREAM_SPOOL_MAX_BYTES`).
 */
import { z } from 'zod';

import { LOG_LEVELS } from './log.js';

/** How one leaf prints in `pidstream config print`: its value as the file would spell it. */
type Formatter = (value: unknown) => unknown;

const formatters = new WeakMap<z.ZodType, Formatter>();

/** A leaf whose parser reports `expected` (e.g. "a byte size like 512MiB") on a bad value. */
function leaf<T>(
  expected: string,
  parse: (v: unknown) => T | undefined,
  format: Formatter = (v) => v,
): z.ZodType<T, unknown> {
  const schema = z.unknown().transform((v, ctx): T => {
    const out = parse(v);
    if (out === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}` });
      return z.NEVER;
    }
    return out;
  });
  formatters.set(schema, format);
  return schema;
}

export function formatterOf(schema: z.ZodType): Formatter | undefined {
  return formatters.get(schema);
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  KiB: 1024,
  MiB: 1024 ** 2,
  GiB: 1024 ** 3,
  TiB: 1024 ** 4,
  kB: 1000,
  KB: 1000,
  MB: 1000 ** 2,
  GB: 1000 ** 3,
  TB: 1000 ** 4,
};

/** `512MiB`, `2 GB`, `4096`: binary units are powers of 1024, decimal ones powers of 1000. */
export function parseByteSize(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$/.exec(v);
  const unit = m === null ? undefined : BYTE_UNITS[m[2] ?? ''];
  if (m === null || unit === undefined) return undefined;
  const bytes = Math.round(Number(m[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

export function formatByteSize(bytes: number): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const size = BYTE_UNITS[unit] as number;
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86400 };

/** `30s`, `5m`, `2h`, `7d`, or plain seconds; returns seconds. */
export function parseDuration(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? v : undefined;
  if (typeof v !== 'string') return undefined;
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/.exec(v);
  const unit = m === null ? undefined : DURATION_UNITS[m[2] ?? ''];
  return m === null || unit === undefined ? undefined : Number(m[1]) * unit;
}

export function formatDuration(seconds: number): string {
  for (const [unit, size] of [
    ['d', 86400],
    ['h', 3600],
    ['m', 60],
  ] as const) {
    if (seconds >= size && seconds % size === 0) return `${seconds / size}${unit}`;
  }
  return `${seconds}s`;
}

function integer(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) ? v : undefined;
  if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
  return undefined;
}

const bytes = (): z.ZodType<number, unknown> =>
  leaf('a byte size like 512MiB', parseByteSize, (v) => formatByteSize(v as number));

const duration = (): z.ZodType<number, unknown> =>
  leaf('a duration like 30s, 5m, 2h or 7d', parseDuration, (v) => formatDuration(v as number));

const count = (min: number, max: number): z.ZodType<number, unknown> =>
  leaf(`an integer from ${min} to ${max}`, (v) => {
    const n = integer(v);
    return n !== undefined && n >= min && n <= max ? n : undefined;
  });

const flag = (): z.ZodType<boolean, unknown> =>
  leaf('true or false', (v) => {
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
    return undefined;
  });

const absolutePath = (): z.ZodType<string, unknown> =>
  leaf('an absolute path', (v) =>
    typeof v === 'string' && v.startsWith('/') && !v.includes('\0') ? v : undefined,
  );

/** A directory that may be relative (to the working directory), as `run --out ./x` allows. */
const directory = (): z.ZodType<string, unknown> =>
  leaf('a directory path', (v) =>
    typeof v === 'string' && v !== '' && !v.includes('\0') ? v : undefined,
  );

/** An absolute path, or "" for none (what "none" means is said at the key). */
const optionalPath = (): z.ZodType<string, unknown> =>
  leaf('an absolute path, or "" for none', (v) =>
    typeof v === 'string' && (v === '' || (v.startsWith('/') && !v.includes('\0'))) ? v : undefined,
  );

/** Crashes taken per executable and window: `10/min`, `1/s`, `100/h`. */
const rate = (): z.ZodType<string, unknown> =>
  leaf('a rate like 10/min, 1/s or 100/h', (v) =>
    typeof v === 'string' && /^\d+\/(s|sec|min|h|hour)$/i.test(v.trim()) ? v.trim() : undefined,
  );

const oneOf = <const T extends string>(values: readonly T[]): z.ZodType<T, unknown> =>
  leaf(`one of ${values.join(', ')}`, (v) =>
    typeof v === 'string' && (values as readonly string[]).includes(v) ? (v as T) : undefined,
  );

/** A list: a TOML array of strings, or one comma-separated string (the environment's form). */
function stringList(v: unknown): string[] | undefined {
  if (typeof v === 'string')
    return v
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  return undefined;
}

const HOST_PORT = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

function hostPort(s: string): boolean {
  const m = HOST_PORT.exec(s);
  return m !== null && Number(m[1]) <= 65535;
}

const brokers = (): z.ZodType<string[], unknown> =>
  leaf('a list of host:port brokers', (v) => {
    const list = stringList(v);
    return list?.every(hostPort) ? list : undefined;
  });

/** A listening address, or `off`. */
const address = (): z.ZodType<string, unknown> =>
  leaf('host:port (e.g. 127.0.0.1:9464) or off', (v) =>
    typeof v === 'string' && (v === 'off' || hostPort(v)) ? v : undefined,
  );

const httpUrl = (): z.ZodType<string, unknown> =>
  leaf('an http:// or https:// URL, or "" for none', (v) =>
    typeof v === 'string' && (v === '' || /^https?:\/\/[^\s/]+(\/\S*)?$/.test(v)) ? v : undefined,
  );

const topic = (): z.ZodType<string, unknown> =>
  leaf('a Kafka topic name (letters, digits, . _ -)', (v) =>
    typeof v === 'string' && /^[A-Za-z0-9._-]{1,249}$/.test(v) ? v : undefined,
  );

const globs = (): z.ZodType<string[], unknown> => leaf('a list of strings', stringList);

const regexes = (): z.ZodType<string[], unknown> =>
  leaf('a list of valid regular expressions', (v) => {
    const list = stringList(v);
    if (list === undefined) return undefined;
    for (const source of list) {
      try {
        new RegExp(source, 'i');
      } catch (err) {
        if (err instanceof SyntaxError) return undefined;
        throw err;
      }
    }
    return list;
  });

/** A group name or numeric gid; "" lets only root in. */
const group = (): z.ZodType<string, unknown> =>
  leaf('a group name or gid, or "" for root only', (v) =>
    typeof v === 'string' && /^(?:[A-Za-z_][A-Za-z0-9_.-]{0,31}|\d+)?$/.test(v) ? v : undefined,
  );

export const configSchema = z.strictObject({
  output: z.strictObject({
    dir: directory(),
    rotate_bytes: bytes(),
    rotate_age: duration(),
  }),
  agent: z.strictObject({
    zombie_timeout: duration(),
    workers: count(1, 64),
    batch_size: count(1, 65_536),
  }),
  redaction: z.strictObject({
    default_rules: flag(),
    argv_patterns: regexes(),
  }),
  coredump: z.strictObject({
    enabled: flag(),
    socket: absolutePath(),
    max_core_bytes: bytes(),
    store_dir: optionalPath(),
    store_quota_bytes: bytes(),
    store_keep_free_bytes: bytes(),
    rate: rate(),
    allow_exe: globs(),
    deny_exe: globs(),
    allow_cgroups: globs(),
    deny_cgroups: globs(),
  }),
  spool: z.strictObject({
    dir: optionalPath(),
    max_bytes: bytes(),
    fsync: oneOf(['batch', 'none'] as const),
  }),
  kafka: z.strictObject({
    brokers: brokers(),
    compression: oneOf(['gzip', 'none'] as const),
    transport: oneOf(['kafkajs', 'rdkafka'] as const),
    topics: z.strictObject({
      exits: topic(),
      coredumps: topic(),
      agent: topic(),
    }),
    registry: z.strictObject({
      url: httpUrl(),
    }),
  }),
  metrics: z.strictObject({
    address: address(),
  }),
  log: z.strictObject({
    level: oneOf(LOG_LEVELS),
  }),
  control: z.strictObject({
    enabled: flag(),
    socket: absolutePath(),
    group: group(),
  }),
});

export type Config = z.output<typeof configSchema>;

/** Raw values before validation: what a file, the environment or a flag may hold. */
export type RawTable = { [key: string]: unknown };

/**
 * Every key's default, in the form a file would give it. Each leaf has a default, so the
 * set of paths below is the set of keys (and of environment variables). They are the defaults
 * of `pidstream run`'s flags (ingest/options.ts and friends); test/config-run-flags.test.ts
 * keeps the two in step.
 */
export const DEFAULTS = {
  output: {
    dir: './pidstream-out',
    rotate_bytes: '64MiB',
    rotate_age: '1h',
  },
  agent: {
    zombie_timeout: '30s',
    workers: 1,
    batch_size: 256,
  },
  redaction: {
    default_rules: true,
    argv_patterns: [],
  },
  coredump: {
    enabled: true,
    socket: '/run/pidstream/coredump.sock',
    max_core_bytes: '2GiB',
    store_dir: '',
    store_quota_bytes: '10GiB',
    store_keep_free_bytes: '5GiB',
    rate: '10/min',
    allow_exe: [],
    deny_exe: [],
    allow_cgroups: [],
    deny_cgroups: [],
  },
  spool: {
    dir: '',
    max_bytes: '512MiB',
    fsync: 'batch',
  },
  kafka: {
    brokers: [],
    compression: 'gzip',
    transport: 'kafkajs',
    topics: {
      exits: 'pidstream.exits',
      coredumps: 'pidstream.coredumps',
      agent: 'pidstream.agent',
    },
    registry: { url: '' },
  },
  metrics: { address: '127.0.0.1:9464' },
  log: { level: 'info' },
  control: {
    enabled: true,
    socket: '/run/pidstream/control.sock',
    group: '',
  },
} satisfies RawTable;
