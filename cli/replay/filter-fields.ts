/**
 * The fields a `--filter` expression can name, what type each compares as, and where each
 * comes from in the three event records. A field an event does not have (the signature of
 * a ProcessExit, the unit of an AgentEvent) reads as null.
 */
import { EVENT_KIND, EventName } from '../../schemas/index.js';
import { signalName } from '../../workers/signals.js';
import type { EventRecord } from './event-record.js';

/** `signal` compares as a number but also accepts names (SIGSEGV, SEGV); `time` accepts ISO-8601. */
export type FieldType = 'string' | 'number' | 'signal' | 'time';

export interface FieldSpec {
  type: FieldType;
  /** False when the stamp alone answers (no decoding of the body needed). */
  needsBody: boolean;
  get(name: EventName, record: EventRecord): string | number | null;
}

const body = (type: FieldType, get: (r: EventRecord) => string | number | null | undefined) => ({
  type,
  needsBody: true,
  get: (_name: EventName, r: EventRecord) => get(r) ?? null,
});

export const FILTER_FIELDS: ReadonlyMap<string, FieldSpec> = new Map<string, FieldSpec>([
  ['type', { type: 'string', needsBody: false, get: (name) => EVENT_KIND[name] }],
  ['host', { type: 'string', needsBody: false, get: (_n, r) => r.agent.host }],
  ['boot_id', { type: 'string', needsBody: false, get: (_n, r) => r.agent.boot_id }],
  ['instance_id', { type: 'string', needsBody: false, get: (_n, r) => r.agent.instance_id }],
  ['seq', { type: 'number', needsBody: false, get: (_n, r) => r.agent.seq }],
  ['time', body('time', (r) => r.time)],
  ['unit', body('string', (r) => r.cgroup?.unit)],
  ['slice', body('string', (r) => r.cgroup?.slice)],
  ['cgroup', body('string', (r) => r.cgroup?.path)],
  ['container', body('string', (r) => r.cgroup?.container_id)],
  ['pod', body('string', (r) => r.cgroup?.pod_uid)],
  ['exe', body('string', (r) => r.exe)],
  ['comm', body('string', (r) => r.comm)],
  ['user', body('string', (r) => r.user)],
  ['uid', body('number', (r) => r.credentials?.ruid)],
  ['pid', body('number', (r) => r.process?.pid)],
  ['signal', body('signal', (r) => r.signal)],
  ['code', body('number', (r) => r.exit_code)],
  ['class', body('string', (r) => r.classification)],
  ['signature', body('string', (r) => r.signature)],
  ['kind', body('string', (r) => r.kind)],
]);

/** _NSIG in uapi asm-generic/signal.h: the highest signal number. */
const HIGHEST_SIGNAL = 64;

const SIGNAL_NUMBERS: ReadonlyMap<string, number> = new Map(
  Array.from({ length: HIGHEST_SIGNAL }, (_, i) => [signalName(i + 1) as string, i + 1]),
);

/** A signal given by name (SIGSEGV or SEGV, any case) as its number, or undefined. */
export function signalNumber(text: string): number | undefined {
  const upper = text.toUpperCase();
  return SIGNAL_NUMBERS.get(upper.startsWith('SIG') ? upper : `SIG${upper}`);
}
