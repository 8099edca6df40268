import { readdirSync } from 'node:fs';

import { describe, expect, it } from 'vitest';

import { namedSubcommand } from '../cli/commands/index.js';
import { startAgent } from './support/agent.js';
import { runCli } from './support/cli.js';

describe('pidstream: which subcommand modules load', () => {
  it.each([
    [['run', '--out', '/tmp/x'], 'run'],
    [['--version', 'query', 'SELECT 1'], 'query'],
    [['config', 'print'], 'config'],
    [[], null],
    [['--help'], null],
    [['help', 'run'], null],
    [['bogus'], null],
  ])('names %j as %j', (args, name) => {
    expect(namedSubcommand(args)).toBe(name);
  });

  it('suggests the closest subcommand for a misspelt one and exits 2', async () => {
    const r = await runCli(['reprot']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: unknown command 'reprot'\n(Did you mean report?)\n");
  });

  it('lists every subcommand in --help', async () => {
    const r = await runCli(['--help']);
    expect(r.code).toBe(0);
    const listed = r.stdout
      .split('Commands:\n')[1]!
      .split('\n')
      .map((l) => /^ {2}(\w+)/.exec(l)?.[1])
      .filter((n) => n !== undefined);
    expect(listed).toEqual([
      'run',
      'doctor',
      'status',
      'config',
      'cat',
      'replay',
      'synth',
      'verify',
      'query',
      'report',
      'help',
    ]);
  });
});

describe('pidstream launcher', () => {
  /** Threads of a running agent started with `threadpool` (undefined: the launcher's choice). */
  async function agentThreads(threadpool: string | undefined): Promise<number> {
    const env = { ...process.env };
    delete env.UV_THREADPOOL_SIZE;
    if (threadpool !== undefined) env.UV_THREADPOOL_SIZE = threadpool;
    const agent = await startAgent([], { env });
    try {
      return readdirSync(`/proc/${agent.child.pid}/task`).length;
    } finally {
      await agent.stop();
      agent.cleanup();
    }
  }

  it("starts libuv's pool with 16 threads, or as many as UV_THREADPOOL_SIZE says", async () => {
    const defaulted = await agentThreads(undefined);
    const four = await agentThreads('4');
    const sixteen = await agentThreads('16');
    expect(defaulted - four).toBe(12);
    expect(sixteen).toBe(defaulted);
  });
});
