import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { describe, expect, it } from 'vitest';

import { crasher } from './support/crashers.js';
import { coredumps, crash, withCrashAgent } from './support/coredumps.js';

async function samples(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^(pidstream_(?:coredumps|core_bytes)[^ ]*) (\S+)$/gm)) {
    out.set(m[1] as string, Number(m[2]));
  }
  return out;
}

// The core_pattern lock waits up to 300 s for another suite that holds it.
describe('coredump metrics', { timeout: 600_000 }, () => {
  it('count crashes by verdict and the core bytes streamed, as the Coredump events say', async () => {
    const control = join('/run', `pidstream-test-${randomUUID()}.sock`);
    const args = ['--metrics', '127.0.0.1:0', '--control-socket', control];
    const run = await withCrashAgent(args, async (agent) => {
      let url: string | undefined;
      while (url === undefined) {
        url = /"url":"(http:[^"]+)","msg":"metrics endpoint listening"/.exec(agent.stderr())?.[1];
        await sleep(20);
      }
      await crash([crasher('null-deref'), 'read']);
      await crash([crasher('abort')]);
      const deadline = Date.now() + 120_000;
      for (;;) {
        const s = await samples(url);
        if ((s.get('pidstream_coredumps_total{verdict="ACCEPTED"}') ?? 0) >= 2) return s;
        if (Date.now() > deadline) throw new Error(`two crashes not counted: ${agent.stderr()}`);
        await sleep(50);
      }
    });
    const events = coredumps(run.events);
    expect(events.map((e) => e.verdict)).toEqual(['ACCEPTED', 'ACCEPTED']);
    expect(run.result.get('pidstream_coredumps_total{verdict="ACCEPTED"}')).toBe(2);
    expect(run.result.get('pidstream_core_bytes_streamed_total')).toBe(
      events.reduce((n, e) => n + e.core_size, 0),
    );
  });
});
