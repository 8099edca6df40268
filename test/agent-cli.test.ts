import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { distFile } from '../common/paths.js';
import { agentEvents, readEvents, startAgent } from './support/agent.js';

function run(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, [distFile('cli/main.js'), 'run', ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stderr: r.stderr };
}

describe('pidstream run: flags', () => {
  it.each([
    [['--bogus'], "error: unknown option '--bogus'"],
    [
      ['--workers', '0'],
      "error: option '--workers <n>' argument '0' is invalid. expected an integer from 1 to 64.",
    ],
    [
      ['--rotate-bytes', 'lots'],
      "error: option '--rotate-bytes <size>' argument 'lots' is invalid. expected a byte size like 64MiB or 1000000.",
    ],
    [
      ['--zombie-timeout', '-1'],
      "error: option '--zombie-timeout <duration>' argument '-1' is invalid. expected a duration like 30s, 5m or 1h.",
    ],
    [
      ['--redact', '(unclosed'],
      "error: option '--redact <regex>' argument '(unclosed' is invalid. not a regular expression: Invalid regular expression: /(unclosed/g: Unterminated group.",
    ],
  ])('rejects %j with one line naming the flag and exit 2', (args, line) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`${line}\n`);
  });
});

describe('pidstream run: stopping', () => {
  it.each(['SIGTERM', 'SIGINT'] as const)(
    'exits 0 on %s with a STOP event last',
    async (signal) => {
      const agent = await startAgent();
      try {
        agent.child.kill(signal);
        const end = await new Promise((resolve) =>
          agent.child.on('exit', (code, killedBy) => resolve({ code, killedBy })),
        );
        expect(end, agent.stderr()).toEqual({ code: 0, killedBy: null });
        const events = await readEvents(agent.outDir);
        const last = agentEvents(events).pop();
        expect(last?.agent.seq).toBe(events.length - 1);
        expect(last?.kind).toBe('STOP');
        expect(last?.message).toBe(`pidstream stopped: ${signal}`);
      } finally {
        agent.cleanup();
      }
    },
  );
});
