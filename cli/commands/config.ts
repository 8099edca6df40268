/**
 * `pidstream config print`: the effective configuration after the file, the environment and
 * the flags are layered and validated, each key with the source of its value. A bad value
 * exits 2 with one line per problem, like every command that reads the configuration.
 */
import type { Command } from 'commander';

import { addConfigOptions, formatConfig, loadConfigFromOptions } from '../../common/config.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('inspect the configuration');
  const print = config
    .command('print')
    .description('print the effective configuration and where each value came from')
    .option('--json', 'print {config, sources, file} as JSON');
  addConfigOptions(print).action((opts: Record<string, unknown>) => {
    const loaded = loadConfigFromOptions(opts);
    if (opts.json === true) {
      const sources = Object.fromEntries(loaded.sources);
      process.stdout.write(
        `${JSON.stringify({ file: loaded.file, config: loaded.config, sources }, null, 2)}\n`,
      );
      return;
    }
    process.stdout.write(formatConfig(loaded));
  });
  print.exitOverride();
}
