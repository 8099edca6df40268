/**
 * Every subcommand of `pidstream`, in the order `--help` lists them, each loaded only when it is
 * needed. A module is imported with everything it uses (DuckDB for query and report, kafkajs for
 * the Kafka paths), and loading all of them cost every start 1.3 to 5 s and the agent tens of MB
 * of memory it never used: a command line that names a subcommand loads that one alone.
 */
import type { Command } from 'commander';

type Register = (program: Command) => void;

interface Subcommand {
  name: string;
  load(): Promise<Register>;
}

const SUBCOMMANDS: readonly Subcommand[] = [
  { name: 'run', load: async () => (await import('./run.js')).registerRun },
  { name: 'doctor', load: async () => (await import('./doctor.js')).registerDoctor },
  { name: 'status', load: async () => (await import('./status.js')).registerStatus },
  { name: 'config', load: async () => (await import('./config.js')).registerConfig },
  { name: 'cat', load: async () => (await import('./cat.js')).registerCat },
  { name: 'replay', load: async () => (await import('./replay.js')).registerReplay },
  { name: 'synth', load: async () => (await import('./synth.js')).registerSynth },
  { name: 'verify', load: async () => (await import('./verify.js')).registerVerify },
  { name: 'query', load: async () => (await import('./query.js')).registerQuery },
  { name: 'report', load: async () => (await import('./report.js')).registerReport },
];

/**
 * The subcommand `args` (the arguments after the script) name, or null when every one is
 * needed: no subcommand (help), `help`, or a name commander must answer with its suggestions.
 * The program itself takes no option with a value, so the first argument that is not an option
 * is the subcommand.
 */
export function namedSubcommand(args: readonly string[]): string | null {
  const first = args.find((arg) => !arg.startsWith('-'));
  return SUBCOMMANDS.some((c) => c.name === first) ? (first ?? null) : null;
}

/** Registers the subcommand `args` name, or all of them when it names none. */
export async function registerCommands(program: Command, args: readonly string[]): Promise<void> {
  const name = namedSubcommand(args);
  const wanted = name === null ? SUBCOMMANDS : SUBCOMMANDS.filter((c) => c.name === name);
  const registers = await Promise.all(wanted.map((c) => c.load()));
  for (const register of registers) register(program);
}
