/**
 * Defaults of the Kafka sink that the command line shows, in a module of their own: `pidstream
 * run` prints them in its help and fills its flags from them without loading kafkajs and the
 * registry client, which it needs only when Kafka is configured.
 */
import type { EventName } from '../schemas/index.js';

export type TopicMap = Record<EventName, string>;

export const DEFAULT_TOPICS: Readonly<TopicMap> = {
  ProcessExit: 'pidstream.exits',
  Coredump: 'pidstream.coredumps',
  AgentEvent: 'pidstream.agent',
};

export const DEFAULT_SPOOL_MAX_BYTES = 512 * 1024 * 1024;
