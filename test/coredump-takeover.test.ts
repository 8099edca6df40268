/**
 * `pidstream run` takes core_pattern over for its coredump socket and gives it back: on a
 * clean stop, on the next start after it was killed, and with --no-coredumps it never takes it.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';

import { afterEach, describe, expect, it } from 'vitest';

import { type AgentRun, startAgent } from './support/agent.js';
import { readCorePattern, withCorePattern, writeCorePattern } from './support/core-pattern.js';
import { CAPTURE_ARGS, SOCKET_PATH, STATE_PATH } from './support/coredumps.js';

/** A pattern no test environment has, so a restore is seen exactly. */
const KNOWN = '/tmp/pidstream-takeover-test-core.%p';

const agents: AgentRun[] = [];

async function start(args: string[] = []): Promise<AgentRun> {
  const agent = await startAgent([...CAPTURE_ARGS, ...args]);
  agents.push(agent);
  return agent;
}

async function kill(agent: AgentRun): Promise<void> {
  const exited = new Promise((resolve) => agent.child.once('exit', resolve));
  agent.child.kill('SIGKILL');
  await exited;
}

afterEach(async () => {
  for (const agent of agents.splice(0)) {
    await agent.stop();
    agent.cleanup();
  }
  rmSync(STATE_PATH, { force: true });
});

describe('core_pattern takeover', () => {
  it('points core_pattern at the socket with @@ while running and restores it on SIGTERM', async () => {
    await withCorePattern(async () => {
      writeCorePattern(KNOWN);
      const agent = await start();
      expect(readCorePattern()).toBe(`@@${SOCKET_PATH}`);
      expect(JSON.parse(readFileSync(STATE_PATH, 'utf8'))).toMatchObject({
        previous: KNOWN,
        ours: `@@${SOCKET_PATH}`,
        pid: agent.child.pid,
      });
      expect(agent.stderr()).toContain('"msg":"crash capture on"');
      expect(await agent.stop()).toBe(0);
      expect(readCorePattern()).toBe(KNOWN);
      expect(existsSync(STATE_PATH)).toBe(false);
      expect(existsSync(SOCKET_PATH)).toBe(false);
    });
  });

  it('takes over again after SIGKILL and restores the original pattern at the next stop', async () => {
    await withCorePattern(async () => {
      writeCorePattern(KNOWN);
      await kill(await start());
      expect(readCorePattern()).toBe(`@@${SOCKET_PATH}`);
      expect(existsSync(STATE_PATH)).toBe(true);

      const second = await start();
      expect(readCorePattern()).toBe(`@@${SOCKET_PATH}`);
      expect(second.stderr()).toContain('"recovered":true');
      expect(await second.stop()).toBe(0);
      expect(readCorePattern()).toBe(KNOWN);
      expect(existsSync(STATE_PATH)).toBe(false);
    });
  });

  it('with --no-coredumps restores what a killed agent left, and takes nothing', async () => {
    await withCorePattern(async () => {
      writeCorePattern(KNOWN);
      await kill(await start());
      expect(readCorePattern()).toBe(`@@${SOCKET_PATH}`);

      const off = await start(['--no-coredumps']);
      expect(readCorePattern()).toBe(KNOWN);
      expect(existsSync(STATE_PATH)).toBe(false);
      expect(off.stderr()).toContain('crash capture is off (--no-coredumps)');
      expect(await off.stop()).toBe(0);
      expect(readCorePattern()).toBe(KNOWN);
    });
  });

  it('leaves a changed core_pattern alone at stop', async () => {
    await withCorePattern(async () => {
      writeCorePattern(KNOWN);
      const agent = await start();
      writeCorePattern(`${KNOWN}.changed`);
      expect(await agent.stop()).toBe(0);
      expect(readCorePattern()).toBe(`${KNOWN}.changed`);
    });
  });
});
