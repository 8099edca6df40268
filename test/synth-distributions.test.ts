import { describe, expect, it } from 'vitest';

import type { EventRecord } from '../cli/replay/event-record.js';
import { decodeEvent } from '../cli/replay/event-record.js';
import { FleetGenerator, SynthOptions } from '../cli/synth/generator.js';

const base: SynthOptions = {
  seed: 'distributions',
  hosts: 50,
  rate: 1000,
  startUs: Date.UTC(2026, 0, 1) * 1000,
  count: 100_000,
  durationUs: null,
  signatures: 200,
  zipfExponent: 1.1,
  crashLoops: 0,
  badDeploys: 0,
};

interface Decoded {
  name: string;
  record: EventRecord;
}

function generate(options: SynthOptions): { events: Decoded[]; generator: FleetGenerator } {
  const generator = new FleetGenerator(options);
  const events: Decoded[] = [];
  for (const e of generator.events())
    events.push({ name: e.name, record: decodeEvent(e.name, e.bytes) });
  return { events, generator };
}

function share<T>(items: readonly T[], pick: (item: T) => boolean): number {
  return items.filter(pick).length / items.length;
}

describe('synth distributions (background only, no incidents)', () => {
  const { events, generator } = generate(base);
  const exits = events.filter((e) => e.name === 'ProcessExit').map((e) => e.record);
  const cores = events.filter((e) => e.name === 'Coredump').map((e) => e.record);

  it('writes exactly --count process events plus one START and one STOP per host', () => {
    expect(exits.length + cores.length).toBe(100_000);
    const agent = events.filter((e) => e.name === 'AgentEvent').map((e) => e.record.kind);
    expect(agent.filter((k) => k === 'START')).toHaveLength(50);
    expect(agent.filter((k) => k === 'STOP')).toHaveLength(50);
  });

  it('ends processes in the documented mix within 0.5 percentage points', () => {
    // Each background slot writes one ProcessExit; a crash's exit follows its Coredump.
    const mix = { CLEAN: 0.78, ERROR: 0.15, KILLED: 0.05, CRASHED: 0.015, OOM_KILLED: 0.005 };
    for (const [classification, expected] of Object.entries(mix)) {
      expect(share(exits, (r) => r.classification === classification)).toBeCloseTo(expected, 2);
      expect(
        Math.abs(share(exits, (r) => r.classification === classification) - expected),
      ).toBeLessThan(0.005);
    }
  });

  it('gives error exits mostly code 1, then 2, 255 and 127, in the documented shares', () => {
    const errors = exits.filter((r) => r.classification === 'ERROR');
    expect(Math.abs(share(errors, (r) => r.exit_code === 1) - 0.62)).toBeLessThan(0.02);
    expect(Math.abs(share(errors, (r) => r.exit_code === 2) - 0.12)).toBeLessThan(0.015);
    expect(Math.abs(share(errors, (r) => r.exit_code === 127) - 0.05)).toBeLessThan(0.01);
    expect(errors.every((r) => r.wait_status === (r.exit_code as number) << 8)).toBe(true);
  });

  it('kills mostly with SIGTERM, then SIGKILL, and marks OOM kills as SIGKILL without core', () => {
    const killed = exits.filter((r) => r.classification === 'KILLED');
    expect(Math.abs(share(killed, (r) => r.signal_name === 'SIGTERM') - 0.62)).toBeLessThan(0.03);
    expect(Math.abs(share(killed, (r) => r.signal_name === 'SIGKILL') - 0.2)).toBeLessThan(0.03);
    const oom = exits.filter((r) => r.classification === 'OOM_KILLED');
    expect(oom.every((r) => r.signal === 9 && r.wait_status === 9 && r.core_dumped === false)).toBe(
      true,
    );
  });

  it('spreads crash signatures by rank following the Zipf exponent within 0.15', () => {
    const counts = new Map<string, number>();
    for (const r of cores)
      counts.set(r.signature as string, (counts.get(r.signature as string) ?? 0) + 1);
    // Least-squares slope of log(count) on log(rank) over the ten most popular ranks.
    const points = generator.catalogue.crashes
      .slice(0, 10)
      .map((c, i) => [Math.log(i + 1), Math.log(counts.get(c.signature) ?? 1)] as const);
    const mx = points.reduce((s, [x]) => s + x, 0) / points.length;
    const my = points.reduce((s, [, y]) => s + y, 0) / points.length;
    const slope =
      points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0) /
      points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
    expect(Math.abs(-slope - 1.1)).toBeLessThan(0.15);
    // Rank 1's share against 1 / H(200, 1.1), within three binomial standard deviations.
    let h = 0;
    for (let k = 1; k <= 200; k++) h += 1 / Math.pow(k, 1.1);
    const top =
      (counts.get(generator.catalogue.crashes[0]?.signature as string) ?? 0) / cores.length;
    expect(Math.abs(top - 1 / h)).toBeLessThan(
      3 * Math.sqrt(((1 / h) * (1 - 1 / h)) / cores.length),
    );
  });

  it('follows every Coredump with its process exit, CRASHED, pointing back at its seq', () => {
    const exitsBySeq = new Map<string, EventRecord>();
    for (const r of exits) {
      if (r.coredump_seq != null) exitsBySeq.set(`${r.agent.instance_id}/${r.coredump_seq}`, r);
    }
    for (const core of cores) {
      const exit = exitsBySeq.get(`${core.agent.instance_id}/${core.agent.seq}`);
      expect(exit?.classification).toBe('CRASHED');
      expect(exit?.process?.pid).toBe(core.process?.pid);
      expect(exit?.signal).toBe(core.signal);
      expect(exit?.wait_status).toBe((core.signal as number) | 0x80);
      expect(exit?.time).toBeGreaterThan(core.time);
    }
    expect(exitsBySeq.size).toBe(cores.length);
  });
});

describe('synth incidents', () => {
  const { events, generator } = generate({ ...base, count: 20_000, crashLoops: 1, badDeploys: 1 });
  const cores = events.filter((e) => e.name === 'Coredump').map((e) => e.record);
  const catalogued = new Set(generator.catalogue.crashes.map((c) => c.signature));
  const bySignature = new Map<string, EventRecord[]>();
  for (const r of cores) {
    const list = bySignature.get(r.signature as string) ?? [];
    list.push(r);
    bySignature.set(r.signature as string, list);
  }
  const incidents = [...bySignature.entries()].filter(([s]) => !catalogued.has(s));

  it('lays a crash loop on one host: one new signature, ten or more times, on one host', () => {
    const loops = incidents.filter(([, list]) => new Set(list.map((r) => r.agent.host)).size === 1);
    expect(loops).toHaveLength(1);
    expect(loops[0]?.[1].length).toBeGreaterThanOrEqual(10);
  });

  it('lays a bad deploy across many hosts: one new signature on several hosts at once', () => {
    const deploys = incidents.filter(([, list]) => new Set(list.map((r) => r.agent.host)).size > 1);
    expect(deploys).toHaveLength(1);
    expect(new Set(deploys[0]?.[1].map((r) => r.agent.host)).size).toBeGreaterThanOrEqual(3);
  });
});
