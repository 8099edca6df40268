#!/usr/bin/env node
/**
 * The `pidstream` command. Each subcommand lives in `cli/commands/<name>.ts` and registers
 * itself here; only the one the command line names is loaded (cli/commands/index.ts). Exit
 * codes: 0 success, 1 a failure while working, 2 a usage or configuration error (named in one
 * line on stderr); commands may define more (see README).
 */
import { Command, CommanderError } from 'commander';

import { PidstreamError } from '../common/errors.js';
import { registerCommands } from './commands/index.js';

export const EXIT_OK = 0;
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;

/** The program with the subcommand `args` (the arguments after the script) name, or all. */
export async function buildProgram(args: readonly string[]): Promise<Command> {
  const program = new Command('pidstream')
    .description('Every Linux process exit and crash as a trustworthy Avro event')
    .version(process.env.npm_package_version ?? '0.1.0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  await registerCommands(program, args);
  for (const command of program.commands) command.exitOverride();
  return program;
}

/** Maps any error to one stderr line and an exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return EXIT_OK;
    if (err.code === 'commander.help') return EXIT_OK;
    return EXIT_USAGE;
  }
  if (err instanceof PidstreamError) {
    process.stderr.write(`pidstream: ${err.message}\n`);
    return err.code === 'PIDSTREAM_ERR_USAGE' || err.code === 'PIDSTREAM_ERR_CONFIG'
      ? EXIT_USAGE
      : EXIT_FAILURE;
  }
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`pidstream: ${message}\n`);
  return EXIT_FAILURE;
}

async function main(): Promise<void> {
  try {
    const program = await buildProgram(process.argv.slice(2));
    await program.parseAsync(process.argv);
  } catch (err) {
    process.exitCode = exitCodeFor(err);
  }
}

await main();
