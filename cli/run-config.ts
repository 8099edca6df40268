/**
 * How `pidstream run`'s flags and the configuration meet. Every run flag has a configuration
 * key; a flag given on the command line wins, and every flag left at its default takes the
 * configured value (environment over file over the defaults, which are run's own defaults).
 * Keys without a flag (metrics, status socket, Kafka compression) are read from the
 * configuration alone, or from the flags `addConfigOptions` adds.
 */
import type { Command } from 'commander';

import {
  addConfigOptions,
  type Config,
  CONFIG_FLAGS,
  type LoadedConfig,
  loadConfigFromOptions,
} from '../common/config.js';
import { parseCoreRate } from '../ingest/coredump/policy.js';
import type { AgentOptions } from '../ingest/options.js';

type ToFlag = (value: unknown) => unknown;

const same: ToFlag = (v) => v;
const millis: ToFlag = (v) => (v as number) * 1000;
const noneIfEmpty: ToFlag = (v) =>
  v === '' || (Array.isArray(v) && v.length === 0) ? undefined : v;

/** A run flag (commander's attribute name), its configuration key, and the value conversion. */
export const RUN_FLAG_KEYS: readonly { attr: string; key: string; toFlag: ToFlag }[] = [
  { attr: 'out', key: 'output.dir', toFlag: same },
  { attr: 'rotateBytes', key: 'output.rotate_bytes', toFlag: same },
  { attr: 'rotateAge', key: 'output.rotate_age', toFlag: millis },
  { attr: 'zombieTimeout', key: 'agent.zombie_timeout', toFlag: millis },
  { attr: 'workers', key: 'agent.workers', toFlag: same },
  { attr: 'batchSize', key: 'agent.batch_size', toFlag: same },
  { attr: 'defaultRedaction', key: 'redaction.default_rules', toFlag: same },
  {
    attr: 'redact',
    key: 'redaction.argv_patterns',
    toFlag: (v) => (v as string[]).map((source) => new RegExp(source, 'g')),
  },
  { attr: 'coredumps', key: 'coredump.enabled', toFlag: same },
  { attr: 'coredumpSocket', key: 'coredump.socket', toFlag: same },
  { attr: 'coreMaxSize', key: 'coredump.max_core_bytes', toFlag: same },
  { attr: 'coreStore', key: 'coredump.store_dir', toFlag: noneIfEmpty },
  { attr: 'coreStoreMaxBytes', key: 'coredump.store_quota_bytes', toFlag: same },
  { attr: 'coreStoreKeepFree', key: 'coredump.store_keep_free_bytes', toFlag: same },
  { attr: 'coreRate', key: 'coredump.rate', toFlag: (v) => parseCoreRate(v as string) },
  { attr: 'coreAllowExe', key: 'coredump.allow_exe', toFlag: same },
  { attr: 'coreDenyExe', key: 'coredump.deny_exe', toFlag: same },
  { attr: 'coreAllowCgroup', key: 'coredump.allow_cgroups', toFlag: same },
  { attr: 'coreDenyCgroup', key: 'coredump.deny_cgroups', toFlag: same },
  { attr: 'spool', key: 'spool.dir', toFlag: noneIfEmpty },
  { attr: 'spoolMaxBytes', key: 'spool.max_bytes', toFlag: same },
  { attr: 'spoolFsync', key: 'spool.fsync', toFlag: same },
  { attr: 'kafkaTransport', key: 'kafka.transport', toFlag: same },
  { attr: 'kafka', key: 'kafka.brokers', toFlag: noneIfEmpty },
  { attr: 'schemaRegistry', key: 'kafka.registry.url', toFlag: noneIfEmpty },
  { attr: 'topicExits', key: 'kafka.topics.exits', toFlag: same },
  { attr: 'topicCoredumps', key: 'kafka.topics.coredumps', toFlag: same },
  { attr: 'topicAgent', key: 'kafka.topics.agent', toFlag: same },
  { attr: 'logLevel', key: 'log.level', toFlag: same },
];

export function configValue(config: Config, key: string): unknown {
  let at: unknown = config;
  for (const part of key.split('.')) at = (at as Record<string, unknown>)[part];
  return at;
}

/** Adds `--config`, `--metrics` and `--control-socket` to the run command. */
export function addRunConfigOptions(run: Command): Command {
  return addConfigOptions(run);
}

/**
 * Loads the configuration for a run and writes the configured values into every flag the
 * command line did not give. Throws a ConfigError (exit 2) for a bad value.
 */
export function applyRunConfig(run: Command, flags: Record<string, unknown>): LoadedConfig {
  const given = (attr: string): boolean => run.getOptionValueSource(attr) === 'cli';
  const cliOnly: Record<string, unknown> = { config: flags.config };
  for (const f of CONFIG_FLAGS) {
    const attr = run.options.find((o) => o.long === f.flag.split(' ')[0])?.attributeName();
    if (attr !== undefined && given(attr)) cliOnly[attr] = flags[attr];
  }
  const loaded = loadConfigFromOptions(cliOnly);
  for (const { attr, key, toFlag } of RUN_FLAG_KEYS) {
    if (!given(attr)) flags[attr] = toFlag(configValue(loaded.config, key));
  }
  return loaded;
}

/** The configuration keys that have no run flag, applied to the options built from the flags. */
export function withConfigOnlyKeys(options: AgentOptions, config: Config): AgentOptions {
  if (options.kafka === undefined) return options;
  return { ...options, kafka: { ...options.kafka, compression: config.kafka.compression } };
}
