import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { agentMetrics } from '../ingest/metrics.js';
import { KafkaSink } from '../streams/kafka-sink.js';
import { kafkaBootstrap } from './support/kafka.js';
import { notices, testSequencer } from './support/kafka-events.js';
import { freshTopics } from './support/kafka-topics.js';

const spoolDir = mkdtempSync(join(tmpdir(), 'pidstream-metrics-kafka-'));
afterAll(() => rmSync(spoolDir, { recursive: true, force: true }));

async function sample(name: string): Promise<number | undefined> {
  const metric = (await agentMetrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  // A gauge has one unnamed value; a histogram's count is the value named `<name>_count`.
  return metric?.values.find((v) => {
    const named = (v as { metricName?: string }).metricName;
    return named === undefined || named === `${name}_count`;
  })?.value;
}

describe('Kafka metrics', { timeout: 180_000 }, () => {
  it('times every produce request, counts failures by error, and follows the spool', async () => {
    const sink = await KafkaSink.open({
      brokers: [kafkaBootstrap()],
      topics: freshTopics('metrics'),
      spoolDir,
    });
    const events = notices(testSequencer('host-metrics'), 500);
    await sink.write(events);
    await sink.flush();
    expect(await sample('pidstream_kafka_send_seconds')).toBeGreaterThanOrEqual(1);
    expect(await sample('pidstream_spool_oldest_age_seconds')).toBe(0);
    expect(await sample('pidstream_spool_bytes')).toBe(sink.spool.bytes);
    await sink.close();
    expect(agentMetrics.spool).toBe(null);

    // A broker nobody listens on: the send fails and is counted, the events wait in the spool.
    const down = await KafkaSink.open({
      brokers: ['127.0.0.1:1'],
      topics: freshTopics('metrics-down'),
      spoolDir: join(spoolDir, 'down'),
      closeTimeoutMs: 100,
    });
    await down.write(events.slice(0, 10));
    const deadline = Date.now() + 60_000;
    while ((await agentMetrics.kafkaSendErrors.get()).values.length === 0) {
      if (Date.now() > deadline) throw new Error('no send error counted');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const [failure] = (await agentMetrics.kafkaSendErrors.get()).values;
    expect(failure?.labels).toEqual({ error: 'KafkaJSNumberOfRetriesExceeded' });
    expect(await sample('pidstream_spool_bytes')).toBeGreaterThan(0);
    await down.close();
  });
});
