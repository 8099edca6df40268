/**
 * Whether the configured Kafka brokers and schema registry answer, for `pidstream doctor`.
 * Both checks are bounded by DELIVERY_PROBE_TIMEOUT_MS and never retried: the doctor reports,
 * the agent's own sink does the retrying.
 */
import { Kafka, logLevel } from 'kafkajs';

import type { Config } from '../common/config.js';
import type { Verdict } from './capabilities.js';

export const DELIVERY_PROBE_TIMEOUT_MS = 3_000;

export interface Reachability {
  name: string;
  target: string;
  verdict: Verdict;
  detail: string;
}

async function probeKafka(brokers: string[]): Promise<Reachability> {
  const target = brokers.join(',');
  const admin = new Kafka({
    brokers,
    clientId: 'pidstream-doctor',
    connectionTimeout: DELIVERY_PROBE_TIMEOUT_MS,
    requestTimeout: DELIVERY_PROBE_TIMEOUT_MS,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  }).admin();
  try {
    await admin.connect();
    const cluster = await admin.describeCluster();
    const detail = `${cluster.brokers.length} broker(s), controller ${cluster.controller ?? 'none'}`;
    return { name: 'Kafka', target, verdict: 'ok', detail };
  } catch (err) {
    const detail = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
    return { name: 'Kafka', target, verdict: 'missing', detail };
  } finally {
    await admin.disconnect();
  }
}

async function probeRegistry(url: string): Promise<Reachability> {
  try {
    const res = await fetch(new URL('subjects', url.endsWith('/') ? url : `${url}/`), {
      signal: AbortSignal.timeout(DELIVERY_PROBE_TIMEOUT_MS),
    });
    return res.ok
      ? { name: 'schema registry', target: url, verdict: 'ok', detail: `HTTP ${res.status}` }
      : { name: 'schema registry', target: url, verdict: 'missing', detail: `HTTP ${res.status}` };
  } catch (err) {
    const detail = `unreachable: ${err instanceof Error ? err.message : String(err)}`;
    return { name: 'schema registry', target: url, verdict: 'missing', detail };
  }
}

/** The configured delivery endpoints and whether they answer; empty when none is configured. */
export async function probeDelivery(config: Config): Promise<Reachability[]> {
  const checks: Promise<Reachability>[] = [];
  if (config.kafka.brokers.length > 0) {
    checks.push(probeKafka(config.kafka.brokers));
  }
  if (config.kafka.registry.url !== '') checks.push(probeRegistry(config.kafka.registry.url));
  return Promise.all(checks);
}
