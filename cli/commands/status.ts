/**
 * `pidstream status [--json]`: asks the running agent for its live counters over the local
 * status socket. Exit 0 with the counters; 1 when the agent refuses this user (only root and
 * the configured group are answered) or no agent listens at the socket.
 */
import { createConnection } from 'node:net';

import type { Command } from 'commander';

import { addConfigOptions, loadConfigFromOptions } from '../../common/config.js';
import { PidstreamError } from '../../common/errors.js';
import type { StatusSnapshot } from '../../ingest/control.js';

/** The reply is a few kilobytes; more than this is not the agent's. */
const MAX_REPLY_BYTES = 1024 * 1024;
const REPLY_TIMEOUT_MS = 5_000;

/** Connects, reads the one JSON reply, and returns it parsed. */
export function requestStatus(socketPath: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const fail = (why: string, cause?: unknown): void => {
      socket.destroy();
      reject(
        new PidstreamError('PIDSTREAM_ERR_CONTROL', `status: ${socketPath}: ${why}`, { cause }),
      );
    };
    const socket = createConnection(socketPath);
    socket.setTimeout(REPLY_TIMEOUT_MS, () => fail(`no answer within ${REPLY_TIMEOUT_MS} ms`));
    socket.on('error', (err: NodeJS.ErrnoException) =>
      fail(`no agent answers here (${err.code ?? err.message})`, err),
    );
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY_BYTES) fail(`reply larger than ${MAX_REPLY_BYTES} bytes`);
      else chunks.push(chunk);
    });
    socket.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      } catch (err) {
        fail('the reply is not JSON', err);
      }
    });
  });
}

function counts(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([k, v]) => `${k} ${v}`)
    .join('  ');
}

export function formatStatus(s: StatusSnapshot): string {
  const st = s.stats;
  const lossTotal = Object.values(st.losses).reduce((a, b) => a + b, 0);
  const lines = [
    `pidstream ${s.version}, pid ${s.pid}, instance ${s.instanceId}`,
    `started     ${s.startedAt} (up ${s.uptimeSeconds} s)`,
    `events      ${counts(st.events)}`,
    `exits       ${counts(st.exitsBySource)}`,
    `losses      ${lossTotal === 0 ? 'none' : counts(st.losses)}`,
    `watched     ${st.watched} processes`,
    `queues      workers ${st.workerQueueDepth} batches, sink ${st.sinkQueueDepth} events`,
  ];
  if (s.coredumps !== undefined) lines.push(`coredumps   ${counts(s.coredumps)}`);
  lines.push(`metrics     ${s.metricsUrl ?? 'off'}`);
  return `${lines.join('\n')}\n`;
}

export function registerStatus(program: Command): void {
  const status = program
    .command('status')
    .description("print the running agent's live counters (root or the configured group)")
    .option('--json', 'print the reply as JSON');
  addConfigOptions(status).action(async (opts: Record<string, unknown>) => {
    const { config } = loadConfigFromOptions(opts);
    const socketPath = config.control.socket;
    const reply = (await requestStatus(socketPath)) as StatusSnapshot | { error: string };
    if ('error' in reply) {
      throw new PidstreamError('PIDSTREAM_ERR_AUTH', `status: the agent refused: ${reply.error}`);
    }
    process.stdout.write(
      opts.json === true ? `${JSON.stringify(reply, null, 2)}\n` : formatStatus(reply),
    );
  });
}
