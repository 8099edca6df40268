import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { packageRoot } from '../common/paths.js';
import { NEEDED_CAPS } from '../ingest/capabilities.js';

const deploy = (path: string): string => join(packageRoot(), 'deploy', path);
const unit = deploy('systemd/pidstream.service');
const root = mkdtempSync(join(tmpdir(), 'pidstream-tmpfiles-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function directive(name: string): string[] {
  return readFileSync(unit, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith(`${name}=`))
    .map((l) => l.slice(name.length + 1));
}

describe('systemd unit and host files', () => {
  it('passes systemd-analyze verify', () => {
    const run = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('bounds root to the capabilities the doctor checks for, and nothing else', () => {
    expect(directive('User')).toEqual(['root']);
    expect(directive('CapabilityBoundingSet')).toEqual([Object.keys(NEEDED_CAPS).join(' ')]);
    expect(directive('ProtectKernelTunables')).toEqual(['no']);
    expect(directive('MemoryDenyWriteExecute')).toEqual(['no']);
  });

  it('creates /run/pidstream and the state directories with their modes through tmpfiles', () => {
    execFileSync('systemd-tmpfiles', [
      '--create',
      `--root=${root}`,
      deploy('systemd/pidstream.tmpfiles'),
    ]);
    const mode = (p: string): string => (statSync(join(root, p)).mode & 0o7777).toString(8);
    expect(mode('run/pidstream')).toBe('755');
    expect(mode('var/lib/pidstream')).toBe('750');
    expect(mode('var/lib/pidstream/spool')).toBe('750');
    expect(mode('var/lib/pidstream/cores')).toBe('700');
  });

  it('ships a sysctl.d note that sets nothing', () => {
    const lines = readFileSync(deploy('sysctl/60-pidstream-core-pattern.conf'), 'utf8').split('\n');
    expect(lines.filter((l) => l.trim() !== '' && !l.startsWith('#'))).toEqual([]);
  });

  it('ships an example configuration that differs from the defaults only where deployed', () => {
    const path = deploy('config/pidstream.toml');
    const fromFile = loadConfig({ path, env: {} });
    expect([...new Set(fromFile.sources.values())]).toEqual([path]);
    const defaults = loadConfig({ path: '/dev/null', env: {} }).config;
    expect(fromFile.config).toEqual({
      ...defaults,
      output: { ...defaults.output, dir: '/var/lib/pidstream/events' },
      coredump: { ...defaults.coredump, store_dir: '/var/lib/pidstream/cores' },
      spool: { ...defaults.spool, dir: '/var/lib/pidstream/spool' },
    });
  });
});
