import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { AgentMetrics, type MetricsServer, startMetricsServer } from '../ingest/metrics.js';
import { emptyStats } from '../ingest/stats.js';

const metrics = new AgentMetrics();
const stats = emptyStats();
let server: MetricsServer;
let ready = { ready: false, reason: 'starting' };

beforeAll(async () => {
  server = await startMetricsServer('127.0.0.1:0', metrics);
});
afterAll(async () => server.close());

async function scrape(): Promise<string[]> {
  const res = await fetch(`${server.url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return (await res.text()).split('\n');
}

describe('metrics endpoint', () => {
  it('listens on loopback by default', () => {
    expect(loadConfig({ env: {} }).config.metrics.address).toBe('127.0.0.1:9464');
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('is not ready and reads zero before an agent is bound', async () => {
    const res = await fetch(`${server.url}/readyz`);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe('agent not started\n');
    expect(await scrape()).toContain('pidstream_watched_processes 0');
  });

  it('serves the agent counters read at scrape time', async () => {
    metrics.bind({ stats: () => stats, ready: () => ready });
    stats.events.ProcessExit = 41;
    stats.events.AgentEvent = 2;
    stats.exitsBySource.PIDFD = 40;
    stats.exitsBySource.PROC_CONNECTOR = 1;
    stats.losses.NETLINK_OVERFLOW = 7;
    stats.watched = 123;
    stats.workerQueueDepth = 3;
    const lines = await scrape();
    expect(lines).toEqual(
      expect.arrayContaining([
        'pidstream_events_total{type="ProcessExit"} 41',
        'pidstream_events_total{type="Coredump"} 0',
        'pidstream_events_total{type="AgentEvent"} 2',
        'pidstream_process_exits_total{source="PIDFD"} 40',
        'pidstream_process_exits_total{source="PROC_CONNECTOR"} 1',
        'pidstream_losses_total{kind="NETLINK_OVERFLOW"} 7',
        'pidstream_watched_processes 123',
        'pidstream_worker_queue_depth 3',
        'pidstream_spool_bytes 0',
      ]),
    );
  });

  it('serves the instruments other components update', async () => {
    metrics.coredumps.inc({ verdict: 'ACCEPTED' });
    metrics.coredumps.inc({ verdict: 'RATE_LIMITED' }, 2);
    metrics.coreBytes.inc(4096);
    metrics.kafkaSendErrors.inc({ error: 'KafkaJSConnectionError' });
    metrics.workerTaskSeconds.observe(0.003);
    metrics.kafkaSendSeconds.observe(0.02);
    const lines = await scrape();
    expect(lines).toEqual(
      expect.arrayContaining([
        'pidstream_coredumps_total{verdict="ACCEPTED"} 1',
        'pidstream_coredumps_total{verdict="RATE_LIMITED"} 2',
        'pidstream_core_bytes_streamed_total 4096',
        'pidstream_kafka_send_errors_total{error="KafkaJSConnectionError"} 1',
        'pidstream_worker_task_seconds_bucket{le="0.005"} 1',
        'pidstream_worker_task_seconds_count 1',
        'pidstream_kafka_send_seconds_bucket{le="0.025"} 1',
      ]),
    );
  });

  it('answers /healthz, and /readyz once the agent says it is ready', async () => {
    const health = await fetch(`${server.url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    ready = { ready: true, reason: 'running' };
    const res = await fetch(`${server.url}/readyz`);
    expect([res.status, await res.text()]).toEqual([200, 'running\n']);
    const missing = await fetch(`${server.url}/nothing`);
    expect(missing.status).toBe(404);
  });
});
