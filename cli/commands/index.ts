/** Every subcommand of `pidstream`, registered in the order `--help` lists them. */
import type { Command } from 'commander';

import { registerCat } from './cat.js';
import { registerConfig } from './config.js';
import { registerDoctor } from './doctor.js';
import { registerQuery } from './query.js';
import { registerReplay } from './replay.js';
import { registerReport } from './report.js';
import { registerRun } from './run.js';
import { registerStatus } from './status.js';
import { registerSynth } from './synth.js';
import { registerVerify } from './verify.js';

type Register = (program: Command) => void;

const commands: Register[] = [
  registerRun,
  registerDoctor,
  registerStatus,
  registerConfig,
  registerCat,
  registerReplay,
  registerSynth,
  registerVerify,
  registerQuery,
  registerReport,
];

export function registerCommands(program: Command): void {
  for (const register of commands) register(program);
}
