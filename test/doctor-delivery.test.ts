import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { kafkaBootstrap } from './support/kafka.js';

/** Kafka and registry checks only; core_pattern is left alone (--no-core-probe). */
function doctor(env: Record<string, string>): ReturnType<typeof spawnSync> & { stdout: string } {
  return spawnSync(process.execPath, [distFile('cli/main.js'), 'doctor', '--no-core-probe'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '', ...env },
  });
}

describe('doctor and the configured delivery', () => {
  it('reports the test broker reachable and plans delivery to it through the spool', () => {
    const broker = kafkaBootstrap();
    const run = doctor({ PIDSTREAM_KAFKA_BROKERS: broker, PIDSTREAM_SPOOL_DIR: '/srv/spool' });
    const lines = run.stdout.split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(
        new RegExp(`^ok {7}Kafka {33}${broker}: 1 broker\\(s\\), controller \\d+$`),
      ),
    );
    expect(lines).toContain(`    delivery        Kafka ${broker} through the spool in /srv/spool`);
  });

  it('reports an unreachable broker and registry, and that events will wait in the spool', () => {
    const run = doctor({
      PIDSTREAM_KAFKA_BROKERS: '127.0.0.1:1',
      PIDSTREAM_KAFKA_REGISTRY_URL: 'http://127.0.0.1:1',
      PIDSTREAM_SPOOL_DIR: '/srv/spool',
    });
    const lines = run.stdout.split('\n');
    expect(lines).toContainEqual(
      expect.stringMatching(/^missing {2}Kafka {33}127\.0\.0\.1:1: unreachable: /),
    );
    expect(lines).toContainEqual(
      expect.stringMatching(
        /^missing {2}schema registry {23}http:\/\/127\.0\.0\.1:1: unreachable: fetch failed$/,
      ),
    );
    expect(lines).toContain(
      '  ! delivery        Kafka 127.0.0.1:1 through the spool in /srv/spool; ' +
        'Kafka and schema registry unreachable now: events wait in the spool',
    );
    expect(run.status).toBe(1);
  });
});
