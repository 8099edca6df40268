import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { distFile } from '../common/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'pidstream-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = join(dir, 'pidstream.toml');
writeFileSync(
  file,
  [
    '[spool]',
    'max_bytes = "64MiB"',
    'dir = "/srv/spool-from-file"',
    '[kafka]',
    'brokers = ["file-broker:9092"]',
    '[metrics]',
    'address = "127.0.0.1:1111"',
    '',
  ].join('\n'),
);

describe('config precedence', () => {
  it('takes flags over environment over file over defaults, key by key', () => {
    const loaded = loadConfig({
      path: file,
      env: {
        PIDSTREAM_SPOOL_DIR: '/srv/spool-from-env',
        PIDSTREAM_KAFKA_BROKERS: 'env-a:9092, env-b:9093',
        PIDSTREAM_METRICS_ADDRESS: '127.0.0.1:2222',
      },
      flags: { 'metrics.address': '127.0.0.1:3333', 'log.level': undefined },
    });
    expect(loaded.config.spool).toEqual({
      dir: '/srv/spool-from-env',
      max_bytes: 64 * 1024 ** 2,
      fsync: 'batch',
    });
    expect(loaded.config.kafka.brokers).toEqual(['env-a:9092', 'env-b:9093']);
    expect(loaded.config.metrics.address).toBe('127.0.0.1:3333');
    expect(loaded.config.log.level).toBe('info');
    expect(Object.fromEntries(loaded.sources)).toMatchObject({
      'spool.dir': 'PIDSTREAM_SPOOL_DIR',
      'spool.max_bytes': file,
      'kafka.brokers': 'PIDSTREAM_KAFKA_BROKERS',
      'metrics.address': '--metrics',
      'log.level': 'default',
    });
  });

  it('reads the file named by PIDSTREAM_CONFIG when no --config is given', () => {
    const loaded = loadConfig({ env: { PIDSTREAM_CONFIG: file } });
    expect(loaded.file).toBe(file);
    expect(loaded.config.spool.dir).toBe('/srv/spool-from-file');
  });

  it('prints each effective value with its source through `config print`', () => {
    const run = spawnSync(
      process.execPath,
      [distFile('cli/main.js'), 'config', 'print', '--config', file, '--metrics', '0.0.0.0:9464'],
      {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '', PIDSTREAM_SPOOL_DIR: '/srv/spool-from-env' },
      },
    );
    expect(run.status).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines).toContain(`# File: ${file}`);
    expect(lines).toContain('[spool]');
    expect(lines).toContain('dir = "/srv/spool-from-env"  # PIDSTREAM_SPOOL_DIR');
    expect(lines).toContain(`max_bytes = "64MiB"  # ${file}`);
    expect(lines).toContain(`brokers = [ "file-broker:9092" ]  # ${file}`);
    expect(lines).toContain('address = "0.0.0.0:9464"  # --metrics');
    expect(lines).toContain('rotate_age = "1h"  # default');
  });
});
