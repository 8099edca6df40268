/** Fresh topic names per test, so suites sharing one broker never read each other's events. */
import { randomUUID } from 'node:crypto';

import type { TopicMap } from '../../streams/kafka-client.js';

export function freshTopics(label: string): TopicMap {
  const id = `${label}-${randomUUID().slice(0, 8)}`;
  return {
    ProcessExit: `${id}.exits`,
    Coredump: `${id}.coredumps`,
    AgentEvent: `${id}.agent`,
  };
}
