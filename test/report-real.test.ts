/**
 * The reports on events the real agent recorded: children with known ends run in a cgroup of
 * their own (cgroup2 for the path, a v1 memory cgroup with a small limit for OOM kills), and
 * `exit-mix` and `oom-kills` for that cgroup equal the counts taken from the agent's files.
 */
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  type AgentRun,
  type EventRecord,
  type ExitEvent,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';
import { runCli } from './support/cli.js';

const CGROUP2 = '/sys/fs/cgroup/unified';
/** This host keeps the memory controller on cgroup v1 (its cgroup2 has no controllers). */
const MEMCG_V1 = '/sys/fs/cgroup/memory';
const LIMIT_BYTES = 64 * 1024 * 1024;
/**
 * Each child waits before it ends, so the agent has opened its pidfd and read its cgroup: a
 * child reaped before the agent reached its fork notice is reported from the proc connector's
 * exit notice, which carries no cgroup (that path has tests of its own).
 */
const SETTLE = 'import os, signal, sys, time; time.sleep(0.3)';
/** Writes 512 MiB: far past the limit. */
const HOG = `${SETTLE}; x = "x" * (512 << 20)`;
const HOUR_US = 3600e6;
/** time_bucket's origin for buckets of a day or less: Monday 2000-01-03, UTC. */
const ORIGIN_US = Date.UTC(2000, 0, 3) * 1000;

describe('pidstream report on events recorded from real processes', () => {
  const tag = marker('report');
  const name = `pidstream-report-${process.pid}`;
  const cgroupPath = `/${name}`;
  let agent: AgentRun;
  let ours: ExitEvent[];

  function python(code: string): string {
    return `/usr/bin/python3 -c '${code}' ${tag}`;
  }

  function inCgroup(command: string): Promise<unknown> {
    const enter = `echo $$ > ${CGROUP2}/${name}/cgroup.procs; echo $$ > ${MEMCG_V1}/${name}/cgroup.procs`;
    return runToEnd('sh', ['-c', `${enter}; exec ${command}`]);
  }

  beforeAll(async () => {
    mkdirSync(`${CGROUP2}/${name}`);
    mkdirSync(`${MEMCG_V1}/${name}`);
    writeFileSync(`${MEMCG_V1}/${name}/memory.limit_in_bytes`, String(LIMIT_BYTES));
    agent = await startAgent();
    for (let i = 0; i < 2; i++) await inCgroup(python(`${SETTLE}; sys.exit(0)`));
    for (let i = 0; i < 3; i++) await inCgroup(python(`${SETTLE}; sys.exit(3)`));
    await inCgroup(python(`${SETTLE}; os.kill(os.getpid(), signal.SIGTERM)`));
    for (let i = 0; i < 2; i++) await inCgroup(python(HOG));
    expect(await agent.stop()).toBe(0);
    const events: EventRecord[] = await readEvents(agent.outDir);
    ours = events.filter(
      (e): e is ExitEvent =>
        e.type === 'exit' && (e.cgroup as { path: string | null }).path === cgroupPath,
    );
  }, 180_000);

  afterAll(() => {
    agent?.cleanup();
    rmdirSync(`${CGROUP2}/${name}`);
    rmdirSync(`${MEMCG_V1}/${name}`);
  });

  async function report(args: string[]): Promise<Record<string, unknown>[]> {
    const result = await runCli(['report', ...args, '--from', agent.outDir, '--format', 'json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout === ''
      ? []
      : result.stdout
          .trimEnd()
          .split('\n')
          .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  it('records the eight children of the test cgroup', () => {
    const classes = ours.map((e) => e.classification).sort();
    expect(classes).toEqual([
      'CLEAN',
      'CLEAN',
      'ERROR',
      'ERROR',
      'ERROR',
      'KILLED',
      'OOM_KILLED',
      'OOM_KILLED',
    ]);
  });

  it('exit-mix by cgroup gives each status of the cgroup with its count and share', async () => {
    const rows = (await report(['exit-mix', '--by', 'cgroup', '--limit', '100000'])).filter(
      (r) => r.cgroup === cgroupPath,
    );

    const counts = new Map<string, number>();
    for (const e of ours) {
      const status = e.signal !== null ? (e.signal_name as string) : `exit ${e.exit_code}`;
      const key = `${status}|${e.classification}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const expected = [...counts]
      .map(([key, n]) => {
        const [status, classification] = key.split('|');
        return { cgroup: cgroupPath, status, classification, exits: n, share: n / ours.length };
      })
      .sort((a, b) => b.exits - a.exits || (a.status! < b.status! ? -1 : 1));
    expect(rows).toEqual(expected);
    expect(rows.map((r) => [r.status, r.exits])).toEqual([
      ['exit 3', 3],
      ['SIGKILL', 2],
      ['exit 0', 2],
      ['SIGTERM', 1],
    ]);
  });

  it('oom-kills by cgroup counts the two OOM kills in their hour', async () => {
    const rows = (await report(['oom-kills', '--by', 'cgroup', '--limit', '100000'])).filter(
      (r) => r.cgroup === cgroupPath,
    );

    const hours = new Map<number, number>();
    for (const e of ours.filter((x) => x.classification === 'OOM_KILLED')) {
      const hour = ORIGIN_US + Math.floor(((e.time as number) - ORIGIN_US) / HOUR_US) * HOUR_US;
      hours.set(hour, (hours.get(hour) ?? 0) + 1);
    }
    const kills = rows.reduce((sum, r) => sum + (r.kills as number), 0);
    expect(kills).toBe(2);
    for (const [hour, n] of hours) {
      const bucket = `${new Date(hour / 1000).toISOString().slice(0, 19)}.000000Z`;
      expect(rows.find((r) => r.bucket === bucket)?.kills).toBe(n);
    }
  });

  it('query counts the cgroup exits by exit code', async () => {
    const result = await runCli([
      'query',
      '--from',
      agent.outDir,
      '--format',
      'csv',
      `SELECT exit_code, count(*) AS n FROM exits WHERE cgroup_path = '${cgroupPath}' ` +
        'AND exit_code IS NOT NULL GROUP BY exit_code ORDER BY exit_code',
    ]);
    expect(result.stdout).toBe('exit_code,n\n0,2\n3,3\n');
  });
});
