/**
 * `pidstream run`: the agent. Every process exit on the host becomes a ProcessExit event in
 * rotating Avro files under --out. SIGINT or SIGTERM stops it cleanly (STOP event, files
 * closed) with exit 0; a bad flag exits 2 with one line naming it.
 */
import { join } from 'node:path';

import { type Command, InvalidArgumentError, Option } from 'commander';

import { parseByteSize, parseDuration } from '../../common/config-schema.js';
import type { Config } from '../../common/config.js';
import { configureLogging, LOG_LEVELS, type LogLevel } from '../../common/log.js';
import { Agent, AGENT_VERSION } from '../../ingest/agent.js';
import {
  type CoredumpFlags,
  coredumpOptionsFrom,
  DEFAULT_COREDUMP_OPTIONS,
} from '../../ingest/coredump/options.js';
import { parseCoreRate } from '../../ingest/coredump/policy.js';
import { type AgentOptions, DEFAULT_AGENT_OPTIONS } from '../../ingest/options.js';
import {
  DEFAULT_REDACTION_RULES,
  type RedactionRule,
  replaceRule,
} from '../../ingest/redaction.js';
import { DEFAULT_SPOOL_MAX_BYTES, DEFAULT_TOPICS } from '../../streams/kafka-defaults.js';
import {
  DEFAULT_KAFKA_TRANSPORT,
  KAFKA_TRANSPORTS,
  type KafkaTransportName,
} from '../../streams/kafka-transport.js';
import { type AgentServices, startServices } from '../../ingest/services.js';
import type { FsyncPolicy } from '../../streams/spool.js';
import { addRunConfigOptions, applyRunConfig, withConfigOnlyKeys } from '../run-config.js';

/** Upper bound of --workers: more threads than this only add memory on any host pidstream fits. */
const MAX_WORKERS = 64;

interface RunFlags extends CoredumpFlags {
  out: string;
  rotateBytes: number;
  rotateAge: number;
  zombieTimeout: number;
  workers: number;
  batchSize: number;
  status: boolean;
  logLevel: LogLevel;
  redact: RegExp[];
  defaultRedaction: boolean;
  kafka?: string[];
  spool?: string;
  spoolMaxBytes: number;
  spoolFsync: FsyncPolicy;
  kafkaTransport: KafkaTransportName;
  schemaRegistry?: string;
  topicExits: string;
  topicCoredumps: string;
  topicAgent: string;
}

function bytes(value: string): number {
  const n = parseByteSize(value);
  if (n === undefined || n <= 0) {
    throw new InvalidArgumentError('expected a byte size like 64MiB or 1000000.');
  }
  return n;
}

/** Durations: plain seconds, or with a unit (s, m, h, d); returned in milliseconds. */
function duration(value: string): number {
  const seconds = parseDuration(value);
  if (seconds === undefined || seconds <= 0) {
    throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h.');
  }
  return seconds * 1000;
}

function integerIn(min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      throw new InvalidArgumentError(`expected an integer from ${min} to ${max}.`);
    }
    return Number(value);
  };
}

function regex(value: string, previous: RegExp[]): RegExp[] {
  try {
    return [...previous, new RegExp(value, 'g')];
  } catch (err) {
    throw new InvalidArgumentError(`not a regular expression: ${(err as Error).message}.`);
  }
}

function brokerList(value: string): string[] {
  const brokers = value.split(',').filter((b) => b !== '');
  for (const broker of brokers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/.test(broker)) {
      throw new InvalidArgumentError(`'${broker}' is not host:port.`);
    }
  }
  if (brokers.length === 0) throw new InvalidArgumentError('expected host:port[,host:port…].');
  return brokers;
}

function kafkaOptionsFrom(flags: RunFlags): AgentOptions['kafka'] {
  if (flags.kafka === undefined) return undefined;
  return {
    brokers: flags.kafka,
    spoolDir: flags.spool ?? join(flags.out, 'spool'),
    spoolMaxBytes: flags.spoolMaxBytes,
    spoolFsync: flags.spoolFsync,
    transport: flags.kafkaTransport,
    schemaRegistry: flags.schemaRegistry,
    topics: {
      ProcessExit: flags.topicExits,
      Coredump: flags.topicCoredumps,
      AgentEvent: flags.topicAgent,
    },
  };
}

export function agentOptionsFrom(flags: RunFlags): AgentOptions {
  const rules: RedactionRule[] = flags.defaultRedaction ? [...DEFAULT_REDACTION_RULES] : [];
  flags.redact.forEach((re, i) => rules.push(replaceRule(`--redact #${i + 1}`, re.source)));
  return {
    ...DEFAULT_AGENT_OPTIONS,
    outDir: flags.out,
    rotateBytes: flags.rotateBytes,
    rotateAgeMs: flags.rotateAge,
    zombieTimeoutMs: flags.zombieTimeout,
    workers: flags.workers,
    batchSize: flags.batchSize,
    statusLine: flags.status,
    logLevel: flags.logLevel,
    redactionRules: rules,
    kafka: kafkaOptionsFrom(flags),
    coredumps: coredumpOptionsFrom(flags),
  };
}

function coreRate(value: string): CoredumpFlags['coreRate'] {
  try {
    return parseCoreRate(value);
  } catch (err) {
    throw new InvalidArgumentError(`${(err as Error).message}.`);
  }
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The flags about crash capture (ingest/coredump). */
function addCoredumpFlags(command: Command): Command {
  const c = DEFAULT_COREDUMP_OPTIONS;
  const rate = `${c.policy.ratePerExe}/min`;
  return command
    .option('--coredumps', 'capture crashes on the coredump socket (the default)', true)
    .option('--no-coredumps', 'leave core_pattern alone: no crash capture')
    .option('--coredump-socket <path>', 'socket core_pattern points at', c.socketPath)
    .option('--core-pattern-state <path>', 'where the replaced core_pattern is kept', c.statePath)
    .option('--core-store <dir>', 'keep cores here, zstd-compressed (default: analyse only)')
    .option(
      '--core-max-size <size>',
      'refuse or cut cores above this',
      bytes,
      c.policy.maxCoreBytes,
    )
    .option('--core-store-max-bytes <size>', 'quota of --core-store', bytes, c.storeMaxBytes)
    .option(
      '--core-store-keep-free <size>',
      'free space --core-store leaves',
      bytes,
      c.storeKeepFreeBytes,
    )
    .option(
      '--core-rate <n/min>',
      'cores per executable (N/S, N/MIN, N/H)',
      coreRate,
      parseCoreRate(rate),
    )
    .option(
      '--core-allow-exe <path>',
      'take only these executables (* at the end: prefix)',
      collect,
      [],
    )
    .option('--core-deny-exe <path>', 'never take these executables', collect, [])
    .option('--core-allow-cgroup <path>', 'take only crashes in these cgroups', collect, [])
    .option('--core-deny-cgroup <path>', 'never take crashes in these cgroups', collect, []);
}

export function registerRun(program: Command): void {
  const d = DEFAULT_AGENT_OPTIONS;
  const run = program.command('run');
  addCoredumpFlags(run);
  run
    .description('run the agent: every process exit on this host as an Avro event')
    .option('--out <dir>', 'directory of the Avro files', d.outDir)
    .option(
      '--rotate-bytes <size>',
      'start a new file at this size (e.g. 64MiB)',
      bytes,
      d.rotateBytes,
    )
    .option(
      '--rotate-age <duration>',
      'start a new file at this age (e.g. 1h)',
      duration,
      d.rotateAgeMs,
    )
    .option(
      '--zombie-timeout <duration>',
      'report an unreaped zombie after this long (e.g. 30s)',
      duration,
      d.zombieTimeoutMs,
    )
    .option(
      '--workers <n>',
      'worker threads for decode and encode',
      integerIn(1, MAX_WORKERS),
      d.workers,
    )
    .option('--batch-size <n>', 'exit records per worker batch', integerIn(1, 65_536), d.batchSize)
    .option(
      '--redact <regex>',
      'also redact what this pattern matches in argv (repeatable)',
      regex,
      [],
    )
    .option('--no-default-redaction', 'drop the built-in secret patterns')
    .option('--no-status', 'no live status line on a terminal')
    .option('--kafka <host:port,…>', 'deliver to these Kafka brokers instead of files', brokerList)
    .option('--spool <dir>', 'durable spool in front of Kafka (default: <out>/spool)')
    .option(
      '--spool-max-bytes <size>',
      'spool cap; beyond it the oldest events are dropped and counted',
      bytes,
      DEFAULT_SPOOL_MAX_BYTES,
    )
    .addOption(
      new Option('--spool-fsync <policy>', 'fsync each spool write (batch) or leave it to the OS')
        .choices(['batch', 'none'])
        .default('batch'),
    )
    .addOption(
      new Option('--kafka-transport <name>', 'Kafka producer: kafkajs or rdkafka (librdkafka)')
        .choices(KAFKA_TRANSPORTS)
        .default(DEFAULT_KAFKA_TRANSPORT),
    )
    .option('--schema-registry <url>', 'Confluent wire format with schemas registered here')
    .option('--topic-exits <topic>', 'topic of ProcessExit events', DEFAULT_TOPICS.ProcessExit)
    .option('--topic-coredumps <topic>', 'topic of Coredump events', DEFAULT_TOPICS.Coredump)
    .option('--topic-agent <topic>', 'topic of AgentEvent events', DEFAULT_TOPICS.AgentEvent)
    .addOption(
      new Option('--log-level <level>', 'log level on stderr')
        .choices(LOG_LEVELS)
        .default(d.logLevel),
    )
    .action(async (flags: RunFlags) => {
      // Flags given on the command line win; every other flag takes the configured value.
      const { config } = applyRunConfig(run, flags as unknown as Record<string, unknown>);
      configureLogging(flags.logLevel);
      await runAgent(withConfigOnlyKeys(agentOptionsFrom(flags), config), config);
    });
  addRunConfigOptions(run);
}

/**
 * Runs until SIGINT or SIGTERM; resolves after the clean stop. With `config`, the metrics
 * endpoint and the status socket run beside the agent.
 */
export async function runAgent(options: AgentOptions, config?: Config): Promise<void> {
  const agent = new Agent(options);
  let stopRequested: (signal: string) => void = () => {};
  const stopped = new Promise<string>((resolve) => {
    stopRequested = resolve;
  });
  const onSignal = (signal: NodeJS.Signals): void => stopRequested(signal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let services: AgentServices | null = null;
  try {
    await agent.start();
    if (config !== undefined) services = await startServices(agent, config, AGENT_VERSION);
    const signal = await stopped;
    await services?.stop();
    await agent.stop(signal);
  } catch (err) {
    await services?.stop();
    await agent.stop('start-up failed').catch(() => undefined);
    throw err;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
