import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { distFile } from '../common/paths.js';
import { registerRun } from '../cli/commands/run.js';
import { configValue, RUN_FLAG_KEYS } from '../cli/run-config.js';

const dir = mkdtempSync(join(tmpdir(), 'pidstream-run-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the agent until it has started, stops it, and returns where its Avro files went. */
async function runAndFindFiles(args: string[], env: Record<string, string>): Promise<string[]> {
  const child = spawn(process.execPath, [distFile('cli/main.js'), 'run', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
      if (err.includes('"msg":"agent started"')) resolve();
    });
    void exited.then((code) => reject(new Error(`agent exited with ${code}: ${err}`)));
  });
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
  return ['file', 'env', 'flag'].filter(
    (d) => existsSync(join(dir, d)) && readdirSync(join(dir, d)).some((f) => f.endsWith('.avro')),
  );
}

describe('run and the configuration', () => {
  it("has every run flag's default equal to its configuration key's default", () => {
    const program = new Command();
    registerRun(program);
    const run = program.commands.find((c) => c.name() === 'run') as Command;
    const config = loadConfig({ path: '/dev/null', env: {} }).config;
    for (const { attr, key, toFlag } of RUN_FLAG_KEYS) {
      const option = run.options.find((o) => o.attributeName() === attr);
      // A lone --no-x flag defaults to true without declaring it.
      const value = option?.negate === true ? (option.defaultValue ?? true) : option?.defaultValue;
      expect({ attr, value }).toEqual({
        attr,
        value: toFlag(configValue(config, key)),
      });
    }
  });

  it('writes where the flag says, over the environment, over the file', async () => {
    const file = join(dir, 'pidstream.toml');
    writeFileSync(file, `[output]\ndir = "${join(dir, 'file')}"\n[metrics]\naddress = "off"\n`);
    const common = ['--no-status', '--no-coredumps', '--config', file];
    const quiet = { PIDSTREAM_CONTROL_ENABLED: 'false' };

    expect(await runAndFindFiles(common, quiet)).toEqual(['file']);
    const env = { ...quiet, PIDSTREAM_OUTPUT_DIR: join(dir, 'env') };
    expect(await runAndFindFiles(common, env)).toEqual(['file', 'env']);
    rmSync(join(dir, 'file'), { recursive: true });
    rmSync(join(dir, 'env'), { recursive: true });
    expect(await runAndFindFiles([...common, '--out', join(dir, 'flag')], env)).toEqual(['flag']);
  });

  it('exits 2 naming a bad configured value before the agent starts', async () => {
    const child = spawn(process.execPath, [distFile('cli/main.js'), 'run', '--no-status'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { PATH: process.env.PATH ?? '', PIDSTREAM_AGENT_WORKERS: 'many' },
    });
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(err).toBe(
      'pidstream: config: agent.workers = "many" (from PIDSTREAM_AGENT_WORKERS): ' +
        'expected an integer from 1 to 64\n',
    );
    expect(code).toBe(2);
  });
});
