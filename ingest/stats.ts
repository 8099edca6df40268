/** The agent's counters: read by the status line, the metrics endpoint and the status API. */
import type { EventName } from '../schemas/index.js';
import { SOURCE_NAMES } from '../workers/protocol.js';

export type LossKind =
  | 'NETLINK_OVERFLOW'
  | 'RECORD_DROPPED'
  | 'SPOOL_OVERFLOW'
  | 'CORE_ANALYSIS_FAILED'
  | 'CORE_REJECTED'
  | 'OTHER';

export type ExitSourceName = (typeof SOURCE_NAMES)[number];

export interface AgentStats {
  /** Events handed to the sink, by event type. */
  events: Record<EventName, number>;
  /** ProcessExit records taken from the kernel, by where their status came from. */
  exitsBySource: Record<ExitSourceName, number>;
  /** LOSS AgentEvents written, by kind, and the records or notices they count. */
  losses: Record<LossKind, number>;
  /** Processes with an open pidfd. */
  watched: number;
  /** Worker batches sent and not yet back. */
  workerQueueDepth: number;
  /** Stamped events waiting for the sink. */
  sinkQueueDepth: number;
}

export function emptyStats(): AgentStats {
  return {
    events: { ProcessExit: 0, Coredump: 0, AgentEvent: 0 },
    exitsBySource: { PIDFD: 0, PROC_CONNECTOR: 0, ZOMBIE_TIMEOUT: 0 },
    losses: {
      NETLINK_OVERFLOW: 0,
      RECORD_DROPPED: 0,
      SPOOL_OVERFLOW: 0,
      CORE_ANALYSIS_FAILED: 0,
      CORE_REJECTED: 0,
      OTHER: 0,
    },
    watched: 0,
    workerQueueDepth: 0,
    sinkQueueDepth: 0,
  };
}

export function totalLosses(stats: AgentStats): number {
  let sum = 0;
  for (const n of Object.values(stats.losses)) sum += n;
  return sum;
}
