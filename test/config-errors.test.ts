import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { ConfigError } from '../common/errors.js';
import { distFile } from '../common/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'pidstream-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function configFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

function cli(args: string[], env: Record<string, string> = {}): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [distFile('cli/main.js'), ...args], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

describe('config errors', () => {
  it('names the key, value, file and expectation of a bad file value and exits 2', () => {
    const path = configFile('bad-size.toml', '[spool]\nmax_bytes = "lots"\n');
    const run = cli(['config', 'print', '--config', path]);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      `pidstream: config: spool.max_bytes = "lots" (from ${path}): expected a byte size like 512MiB\n`,
    );
    expect(run.stdout).toBe('');
  });

  it('names the environment variable of a bad environment value and exits 2', () => {
    const run = cli(['config', 'print'], { PIDSTREAM_METRICS_ADDRESS: 'everywhere' });
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'pidstream: config: metrics.address = "everywhere" (from PIDSTREAM_METRICS_ADDRESS): ' +
        'expected host:port (e.g. 127.0.0.1:9464) or off\n',
    );
  });

  it('reports a bad flag value with the flag as its source', () => {
    const run = cli(['config', 'print', '--log-level', 'loud']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe(
      'pidstream: config: log.level = "loud" (from --log-level): ' +
        'expected one of fatal, error, warn, info, debug, trace, silent\n',
    );
  });

  it('reports every bad value of a file, one line each', () => {
    const path = configFile(
      'several.toml',
      '[coredump]\nrate = "lots"\nenabled = "always"\n[kafka]\nbokers = ["x:1"]\n',
    );
    expect(() => loadConfig({ path, env: {} })).toThrow(
      new ConfigError(
        [
          `config: coredump.enabled = "always" (from ${path}): expected true or false`,
          `config: coredump.rate = "lots" (from ${path}): expected a rate like 10/min, 1/s or 100/h`,
          `config: kafka.bokers: unknown key (from ${path}); expected one of brokers, compression, transport, topics, registry`,
        ].join('\n'),
      ),
    );
  });

  it('reports a TOML syntax error with file, line and column', () => {
    const path = configFile('syntax.toml', '[spool]\nmax_bytes = \n');
    expect(() => loadConfig({ path, env: {} })).toThrow(
      `config: ${path}:2:13: Invalid TOML document: invalid value`,
    );
  });

  it('fails when a file named with --config does not exist, and not when the default is absent', () => {
    const missing = join(dir, 'absent.toml');
    expect(() => loadConfig({ path: missing, env: {} })).toThrow(
      `config: cannot read ${missing}: ENOENT`,
    );
    expect(loadConfig({ env: {} }).file).toBe(null);
  });

  it('rejects a regular expression that does not compile', () => {
    expect(() =>
      loadConfig({ env: { PIDSTREAM_REDACTION_ARGV_PATTERNS: 'ok,(unclosed' } }),
    ).toThrow(
      'config: redaction.argv_patterns = "ok,(unclosed" (from PIDSTREAM_REDACTION_ARGV_PATTERNS): ' +
        'expected a list of valid regular expressions',
    );
  });
});
