/**
 * A decoded pidstream event, typed loosely enough to cover all three records: the fields the
 * filter reads and the rewriter changes. Decoded once per event, only when a filter or a
 * rewrite needs more than the bytes.
 */
import { EventName, eventType } from '../../schemas/index.js';
import type { ProcessExitBody } from '../../workers/encode-exits.js';

export interface EventRecord {
  agent: { host: string; boot_id: string; instance_id: string; seq: number; prev_digest: Buffer };
  time: number;
  process?: ProcessExitBody['process'];
  comm?: string;
  exe?: string | null;
  user?: string | null;
  credentials?: { ruid: number } | null;
  cgroup?: ProcessExitBody['cgroup'];
  signal?: number | null;
  signal_name?: string | null;
  exit_code?: number | null;
  classification?: string;
  signature?: string | null;
  coredump_seq?: number | null;
  kind?: string;
  [field: string]: unknown;
}

export function decodeEvent(name: EventName, bytes: Buffer): EventRecord {
  return eventType(name).fromBuffer(bytes) as EventRecord;
}
