/**
 * The kafkajs client settings pidstream's Kafka sink and source share: the agent's three
 * topics, and kafkajs's own log lines routed into pino at debug level (the sink and source
 * decide what is worth a warning, once, rather than kafkajs printing every retry).
 */
import { Kafka, logLevel, type LogEntry } from 'kafkajs';

import { logger } from '../common/log.js';

export { DEFAULT_TOPICS, type TopicMap } from './kafka-defaults.js';

export function kafkaClient(brokers: readonly string[], clientId: string): Kafka {
  const log = logger('kafkajs');
  return new Kafka({
    clientId,
    brokers: [...brokers],
    connectionTimeout: 3_000,
    requestTimeout: 30_000,
    // Few retries inside kafkajs: the sink's own loop retries without end from the spool, and
    // a quick failure lets it rewind and resend the whole unacknowledged range.
    retry: { retries: 3, initialRetryTime: 200, maxRetryTime: 2_000 },
    logLevel: logLevel.INFO,
    logCreator:
      () =>
      ({ namespace, label, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        log.debug({ namespace, kafkaLevel: label, ...rest }, message);
      },
  });
}
