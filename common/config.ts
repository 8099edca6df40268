/**
 * pidstream's configuration: a TOML file, `PIDSTREAM_*` environment variables and command-line
 * flags, layered over the defaults in config-schema.ts and validated as a whole.
 *
 * Precedence, highest first: flags, environment, file, defaults. Each key remembers which layer
 * gave it, so a bad value and `pidstream config print` both name their source.
 *
 * The file is `--config PATH`, else `$PIDSTREAM_CONFIG`, else /etc/pidstream/pidstream.toml.
 * A missing default file is not an error (every key has a default); a missing file that was
 * named explicitly is.
 */
import { readFileSync } from 'node:fs';

import type { Command } from 'commander';
import { parse as parseToml, stringify as stringifyToml, TomlError } from 'smol-toml';
import type { z } from 'zod';

import { ConfigError } from './errors.js';
import {
  type Config,
  configSchema,
  DEFAULTS,
  formatterOf,
  type RawTable,
} from './config-schema.js';

export type { Config } from './config-schema.js';

export const DEFAULT_CONFIG_PATH = '/etc/pidstream/pidstream.toml';
export const CONFIG_PATH_ENV = 'PIDSTREAM_CONFIG';
const ENV_PREFIX = 'PIDSTREAM_';

/** Where a key's value came from: `default`, a file path, an environment name or a flag. */
export type Sources = Map<string, string>;

export interface LoadedConfig {
  config: Config;
  /** The file that was read, or null when none was. */
  file: string | null;
  /** Key path (e.g. `spool.max_bytes`) to its source. */
  sources: Sources;
}

export interface LoadOptions {
  /** `--config`: an explicit file, which must exist. */
  path?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from flags, by key path. Undefined values are ignored. */
  flags?: Record<string, unknown>;
}

function isTable(v: unknown): v is RawTable {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The key paths of every leaf, in schema order: `output.dir`, `output.rotate_bytes`, … */
export function configKeys(table: RawTable = DEFAULTS, prefix = ''): string[] {
  return Object.entries(table).flatMap(([key, value]) =>
    isTable(value) ? configKeys(value, `${prefix}${key}.`) : [`${prefix}${key}`],
  );
}

/** `spool.max_bytes` is set by `PIDSTREAM_SPOOL_MAX_BYTES`. */
export function envName(key: string): string {
  return ENV_PREFIX + key.replaceAll('.', '_').toUpperCase();
}

function markAll(value: unknown, path: string, source: string, sources: Sources): void {
  if (isTable(value)) {
    for (const [k, v] of Object.entries(value)) markAll(v, `${path}.${k}`, source, sources);
  } else {
    sources.set(path, source);
  }
}

/** Lays `layer` over `target` table by table; a leaf replaces whatever was below it. */
function overlay(
  target: RawTable,
  layer: RawTable,
  source: string,
  sources: Sources,
  at = '',
): void {
  for (const [key, value] of Object.entries(layer)) {
    const path = at + key;
    const below = target[key];
    if (isTable(value) && isTable(below)) {
      overlay(below, value, source, sources, `${path}.`);
    } else {
      target[key] = value;
      markAll(value, path, source, sources);
    }
  }
}

function setPath(table: RawTable, key: string, value: unknown): void {
  const parts = key.split('.');
  let at = table;
  for (const part of parts.slice(0, -1)) {
    const next = at[part];
    at = isTable(next) ? next : (at[part] = {});
  }
  at[parts[parts.length - 1] as string] = value;
}

function getPath(table: RawTable, path: readonly PropertyKey[]): unknown {
  let at: unknown = table;
  for (const part of path) at = isTable(at) ? at[String(part)] : undefined;
  return at;
}

function readConfigFile(path: string, explicit: boolean): RawTable | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (!explicit && code === 'ENOENT') return null;
    throw new ConfigError(`config: cannot read ${path}: ${code ?? String(err)}`, { cause: err });
  }
  try {
    return parseToml(text);
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const first = err.message.split('\n')[0] ?? err.message;
    throw new ConfigError(`config: ${path}:${err.line}:${err.column}: ${first}`, { cause: err });
  }
}

function show(value: unknown): string {
  return value === undefined ? '(missing)' : JSON.stringify(value);
}

/** One line per problem: the key, the value, its source and what was expected. */
function describeIssue(issue: z.core.$ZodIssue, raw: RawTable, sources: Sources): string {
  const key = issue.path.map(String).join('.');
  const origin = (k: string): string => {
    const source = sources.get(k);
    return source === undefined ? '' : ` (from ${source})`;
  };
  if (issue.code === 'unrecognized_keys') {
    const table = getPath(configSchema.shape, issue.path) as unknown;
    const known = isTable(table) && isTable(table.shape) ? Object.keys(table.shape) : [];
    return issue.keys
      .map((k) => {
        const full = key === '' ? k : `${key}.${k}`;
        return `config: ${full}: unknown key${origin(full)}; expected one of ${known.join(', ')}`;
      })
      .join('\n');
  }
  const value = getPath(raw, issue.path);
  const expected = issue.code === 'invalid_type' ? 'expected a table' : issue.message;
  return `config: ${key} = ${show(value)}${origin(key)}: ${expected}`;
}

/** Reads, layers and validates; throws a ConfigError naming every bad value. */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const sources: Sources = new Map();
  const raw = structuredClone(DEFAULTS) as RawTable;
  for (const key of configKeys()) sources.set(key, 'default');

  const explicit = options.path ?? env[CONFIG_PATH_ENV];
  const file = explicit ?? DEFAULT_CONFIG_PATH;
  const fromFile = readConfigFile(file, explicit !== undefined);
  if (fromFile !== null) overlay(raw, fromFile, file, sources);

  for (const key of configKeys()) {
    const value = env[envName(key)];
    if (value !== undefined) {
      setPath(raw, key, value);
      sources.set(key, envName(key));
    }
  }
  for (const [key, value] of Object.entries(options.flags ?? {})) {
    if (value === undefined) continue;
    setPath(raw, key, value);
    sources.set(key, FLAG_OF_KEY.get(key) ?? 'flag');
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, raw, sources));
    throw new ConfigError(lines.join('\n'));
  }
  return { config: result.data, file: fromFile === null ? null : file, sources };
}

/**
 * The flags that set configuration keys, shared by every command that reads the
 * configuration. `--config` names the file itself.
 */
export const CONFIG_FLAGS = [
  { flag: '--out <dir>', key: 'output.dir', help: 'directory of the Avro event files' },
  { flag: '--kafka <brokers>', key: 'kafka.brokers', help: 'Kafka brokers, host:port,…' },
  { flag: '--schema-registry <url>', key: 'kafka.registry.url', help: 'schema registry URL' },
  { flag: '--spool <dir>', key: 'spool.dir', help: 'durable spool directory before Kafka' },
  { flag: '--coredump-socket <path>', key: 'coredump.socket', help: 'coredump socket path' },
  { flag: '--metrics <addr>', key: 'metrics.address', help: 'metrics listen address, or off' },
  { flag: '--control-socket <path>', key: 'control.socket', help: 'status socket path' },
  { flag: '--log-level <level>', key: 'log.level', help: 'fatal … trace, or silent' },
] as const;

const FLAG_OF_KEY = new Map<string, string>(
  CONFIG_FLAGS.map((f) => [f.key, f.flag.split(' ')[0] as string]),
);

function attributeName(flag: string): string {
  const long = (flag.split(' ')[0] as string).slice(2);
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Adds `--config` and the configuration flags to a command. A flag the command already
 * declares is left as the command declared it.
 */
export function addConfigOptions(command: Command): Command {
  const has = (flag: string): boolean => command.options.some((o) => o.long === flag.split(' ')[0]);
  if (!has('--config')) command.option('--config <file>', `configuration file (TOML)`);
  for (const f of CONFIG_FLAGS) if (!has(f.flag)) command.option(f.flag, f.help);
  return command;
}

/** Loads the configuration with the values of the flags a command was given. */
export function loadConfigFromOptions(
  opts: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): LoadedConfig {
  const flags: Record<string, unknown> = {};
  for (const f of CONFIG_FLAGS) flags[f.key] = opts[attributeName(f.flag)];
  const path = typeof opts.config === 'string' ? opts.config : undefined;
  return loadConfig({ path, env, flags });
}

function tomlValue(value: unknown): string {
  return stringifyToml({ v: value }).trim().replace(/^v = /, '');
}

/** The effective configuration as TOML, each key followed by where its value came from. */
export function formatConfig(loaded: LoadedConfig): string {
  const lines = [
    '# Effective pidstream configuration; the comment after each key names its source.',
    `# File: ${loaded.file ?? `none (${DEFAULT_CONFIG_PATH} not present)`}`,
  ];
  const section = (table: RawTable, schema: RawTable, name: string): void => {
    const leaves = Object.entries(table).filter(([, v]) => !isTable(v));
    if (leaves.length > 0) lines.push('', `[${name}]`);
    for (const [key, value] of leaves) {
      const format = formatterOf(schema[key] as z.ZodType);
      const shown = tomlValue(format === undefined ? value : format(value));
      lines.push(`${key} = ${shown}  # ${loaded.sources.get(`${name}.${key}`) ?? 'default'}`);
    }
    for (const [key, value] of Object.entries(table)) {
      const sub = (schema[key] as { shape?: RawTable } | undefined)?.shape;
      if (isTable(value) && sub !== undefined) section(value, sub, `${name}.${key}`);
    }
  };
  for (const [name, value] of Object.entries(loaded.config as RawTable)) {
    const shape = (configSchema.shape as RawTable)[name] as { shape: RawTable };
    section(value as RawTable, shape.shape, name);
  }
  return `${lines.join('\n')}\n`;
}
