/**
 * Each built-in report, run on a fixed-seed `pidstream synth` fleet, returns exactly the rows
 * computed here in plain TypeScript from the decoded events.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeAll, writeDataset } from '../bench/query/dataset.js';
import { runCli } from './support/cli.js';

const START_US = Date.UTC(2026, 0, 1) * 1000;
const SINCE_US = START_US + 300e6;
const UNTIL_US = START_US + 1500e6;
/** time_bucket's origin for buckets of a day or less: Monday 2000-01-03, UTC. */
const ORIGIN_US = Date.UTC(2000, 0, 3) * 1000;

interface Row {
  host: string;
  time: number;
  exe: string | null;
  unit: string | null;
  cgroup: string | null;
  signature: string | null;
  classification: string;
  exitCode: number | null;
  signal: number | null;
  signalName: string | null;
}

let dir: string;
let exits: Row[];
let cores: Row[];

function row(record: Record<string, unknown>): Row {
  const cgroup = record.cgroup as { unit: string | null; path: string | null };
  return {
    host: (record.agent as { host: string }).host,
    time: record.time as number,
    exe: record.exe as string | null,
    unit: cgroup.unit,
    cgroup: cgroup.path,
    signature: (record.signature as string | null | undefined) ?? null,
    classification: (record.classification as string | undefined) ?? '',
    exitCode: (record.exit_code as number | null | undefined) ?? null,
    signal: record.signal as number | null,
    signalName: record.signal_name as string | null,
  };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-report-synth-'));
  const events = await writeDataset(join(dir, 'avro'), {
    seed: 'report-synth',
    hosts: 6,
    count: 12_000,
    rate: 6,
    startUs: START_US,
  });
  const decoded = decodeAll(events);
  exits = decoded.filter((e) => e.name === 'ProcessExit').map((e) => row(e.record));
  cores = decoded.filter((e) => e.name === 'Coredump').map((e) => row(e.record));
}, 300_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const inWindow = (r: Row): boolean => r.time >= SINCE_US && r.time < UNTIL_US;

function iso(us: number): string {
  return `${new Date(Math.floor(us / 1000)).toISOString().slice(0, 19)}.${String(us % 1e6).padStart(6, '0')}Z`;
}

/** Ascending order with nulls last, as the reports' ORDER BY … NULLS LAST. */
function compareKeys(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

function minString(values: (string | null)[]): string | null {
  const present = values.filter((v): v is string => v !== null).sort();
  return present[0] ?? null;
}

function groupBy<T>(items: T[], key: (item: T) => string | null): Map<string | null, T[]> {
  const groups = new Map<string | null, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

async function report(args: string[]): Promise<unknown[]> {
  const result = await runCli(['report', ...args, '--from', join(dir, 'avro'), '--format', 'json']);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return result.stdout === ''
    ? []
    : result.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l));
}

const window = ['--since', iso(SINCE_US), '--until', iso(UNTIL_US)];

function series(rows: Row[], key: (r: Row) => string | null, bucketUs: number, limit: number) {
  const totals = [...groupBy(rows, key)].map(([k, rs]) => ({ key: k, total: rs.length }));
  totals.sort((a, b) => b.total - a.total || compareKeys(a.key, b.key));
  const bucketOf = (us: number) => ORIGIN_US + Math.floor((us - ORIGIN_US) / bucketUs) * bucketUs;
  const out: { bucket: string; key: string | null; n: number }[] = [];
  for (const { key: k } of totals.slice(0, limit)) {
    for (let b = bucketOf(SINCE_US); b <= bucketOf(UNTIL_US - 1); b += bucketUs) {
      const n = rows.filter((r) => key(r) === k && bucketOf(r.time) === b).length;
      out.push({ bucket: iso(b), key: k, n });
    }
  }
  return out;
}

describe('pidstream report on a synthetic fleet', () => {
  it('top-crashes: signatures by count with exe, hosts, first and last seen', async () => {
    const rows = await report(['top-crashes', ...window, '--limit', '8']);

    const groups = [...groupBy(cores.filter(inWindow), (r) => r.signature)].map(([sig, rs]) => ({
      signature: sig,
      exe: minString(rs.map((r) => r.exe)),
      crashes: rs.length,
      hosts: new Set(rs.map((r) => r.host)).size,
      first_seen: iso(Math.min(...rs.map((r) => r.time))),
      last_seen: iso(Math.max(...rs.map((r) => r.time))),
    }));
    groups.sort((a, b) => b.crashes - a.crashes || compareKeys(a.signature, b.signature));
    expect(groups.length).toBeGreaterThan(8);
    expect(rows).toEqual(groups.slice(0, 8));
  });

  it('crash-rate: crashes per exe per bucket, every bucket of the window', async () => {
    const rows = await report(['crash-rate', ...window, '--bucket', '5m', '--limit', '4']);

    const crashed = exits.filter((r) => inWindow(r) && r.classification === 'CRASHED');
    const expected = series(crashed, (r) => r.exe, 300e6, 4).map((s) => ({
      bucket: s.bucket,
      exe: s.key,
      crashes: s.n,
    }));
    expect(expected.length).toBe(4 * 4);
    expect(rows).toEqual(expected);
  });

  it('oom-kills: kills per cgroup per hour', async () => {
    const rows = await report(['oom-kills', ...window]);

    const killed = exits.filter((r) => inWindow(r) && r.classification === 'OOM_KILLED');
    const expected = series(killed, (r) => r.cgroup, 3600e6, 20).map((s) => ({
      bucket: s.bucket,
      cgroup: s.key,
      kills: s.n,
    }));
    expect(killed.length).toBeGreaterThan(0);
    expect(rows).toEqual(expected);
  });

  it('exit-mix: statuses per unit with their share of the unit', async () => {
    const rows = await report(['exit-mix', ...window, '--limit', '3']);

    const status = (r: Row): string =>
      r.signal !== null
        ? (r.signalName ?? `signal ${r.signal}`)
        : r.exitCode !== null
          ? `exit ${r.exitCode}`
          : 'unknown';
    const units = [...groupBy(exits.filter(inWindow), (r) => r.unit)]
      .map(([unit, rs]) => ({ unit, rs }))
      .sort((a, b) => b.rs.length - a.rs.length || compareKeys(a.unit, b.unit))
      .slice(0, 3);
    const expected = units.flatMap(({ unit, rs }) =>
      [...groupBy(rs, (r) => `${status(r)}\u0000${r.classification}`)]
        .map(([k, group]) => {
          const [s, classification] = k!.split('\u0000');
          return {
            unit,
            status: s,
            classification,
            exits: group.length,
            share: group.length / rs.length,
          };
        })
        .sort((a, b) => b.exits - a.exits || compareKeys(a.status!, b.status!)),
    );
    expect(rows).toEqual(expected);
  });

  it('new-crashes: signatures whose first crash falls inside the window', async () => {
    const rows = await report(['new-crashes', ...window]);

    const firsts = new Map<string, number>();
    for (const r of cores) {
      if (r.signature === null || r.time >= UNTIL_US) continue;
      firsts.set(r.signature, Math.min(firsts.get(r.signature) ?? Infinity, r.time));
    }
    const expected = [...firsts]
      .filter(([, first]) => first >= SINCE_US && first < UNTIL_US)
      .map(([signature, first]) => {
        const rs = cores.filter((r) => r.signature === signature && inWindow(r));
        return {
          signature,
          exe: minString(rs.map((r) => r.exe)),
          first_seen: iso(first),
          last_seen: iso(Math.max(...rs.map((r) => r.time))),
          crashes: rs.length,
          hosts: new Set(rs.map((r) => r.host)).size,
        };
      })
      .sort(
        (a, b) => compareKeys(a.first_seen, b.first_seen) || compareKeys(a.signature, b.signature),
      );
    expect(expected.length).toBeGreaterThan(0);
    expect(rows).toEqual(expected.slice(0, 20));
  });
});
