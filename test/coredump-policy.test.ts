/**
 * The coredump policy on real crashes: a crash loop is rate limited per executable, denied
 * executables and oversized cores are refused before the dump, and every refusal is reported
 * (a Coredump event with its verdict, and a CORE_REJECTED loss with the count).
 */
import { beforeAll, describe, expect, it } from 'vitest';

import type { EventRecord } from './support/agent.js';
import { crasher } from './support/crashers.js';
import { type Crash, crash, coredumpOf, coredumps, withCrashAgent } from './support/coredumps.js';

const LOOP = 6;
const RATE = 3;

let loop: Crash[];
let denied: Crash;
let oversized: Crash;
let notAllowed: Crash;
let events: EventRecord[];
let sizeEvents: EventRecord[];

type AgentEventRecord = EventRecord & {
  kind: string;
  loss_kind: string | null;
  count: number;
  attributes: Record<string, string>;
};

function losses(all: EventRecord[], kind: string, verdict: string): AgentEventRecord[] {
  return all.filter(
    (e): e is AgentEventRecord =>
      e.type === 'agent' &&
      (e as AgentEventRecord).loss_kind === kind &&
      (e as AgentEventRecord).attributes.verdict === verdict,
  );
}

beforeAll(async () => {
  const abort = crasher('abort');
  const first = await withCrashAgent(
    ['--core-rate', `${RATE}/min`, '--core-deny-exe', abort],
    async () => {
      const crashes: Crash[] = [];
      for (let i = 0; i < LOOP; i++) crashes.push(await crash([crasher('null-deref'), 'read']));
      return { crashes, denied: await crash([abort]) };
    },
  );
  loop = first.result.crashes;
  denied = first.result.denied;
  events = first.events;

  const second = await withCrashAgent(
    ['--core-max-size', '64KiB', '--core-allow-exe', crasher('null-deref')],
    async () => ({
      oversized: await crash([crasher('null-deref'), 'read']),
      notAllowed: await crash([crasher('threads')]),
    }),
  );
  oversized = second.result.oversized;
  notAllowed = second.result.notAllowed;
  sizeEvents = second.events;
}, 300_000);

describe('coredump policy', () => {
  it('takes the first cores of a crash loop and rate-limits the rest', () => {
    const verdicts = loop.map((c) => coredumpOf(events, c.pid).verdict);
    expect(verdicts).toEqual([
      ...Array<string>(RATE).fill('ACCEPTED'),
      ...Array<string>(LOOP - RATE).fill('RATE_LIMITED'),
    ]);
    const limited = coredumpOf(events, loop[LOOP - 1]?.pid ?? -1);
    expect(limited.core_size).toBe(0);
    expect(limited.verdict_reason).toBe(`over ${RATE} per 60000 ms`);
  });

  it('reports rate-limited crashes as CORE_REJECTED losses with their count', () => {
    const reported = losses(events, 'CORE_REJECTED', 'RATE_LIMITED');
    expect(reported.reduce((sum, e) => sum + e.count, 0)).toBe(LOOP - RATE);
    expect(reported[0]?.attributes.exe).toBe(crasher('null-deref'));
  });

  it('refuses a denied executable before the dump and says why', () => {
    const e = coredumpOf(events, denied.pid);
    expect(e.verdict).toBe('REJECTED_POLICY');
    expect(e.verdict_reason).toBe('executable denied');
    expect(e.core_size).toBe(0);
    expect(losses(events, 'CORE_REJECTED', 'REJECTED_POLICY')[0]?.count).toBe(1);
  });

  it('refuses a core estimated above --core-max-size', () => {
    const e = coredumpOf(sizeEvents, oversized.pid);
    expect(e.verdict).toBe('REJECTED_SIZE');
    expect(e.verdict_reason).toMatch(/^estimated \d+ bytes$/);
    expect(e.core_size).toBe(0);
  });

  it('refuses an executable outside --core-allow-exe', () => {
    const e = coredumpOf(sizeEvents, notAllowed.pid);
    expect(e.verdict).toBe('REJECTED_POLICY');
    expect(e.verdict_reason).toBe('executable not allowed');
    expect(coredumps(sizeEvents)).toHaveLength(2);
  });
});
