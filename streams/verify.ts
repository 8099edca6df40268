/**
 * Checks a stream of events against the integrity stamp every event carries: per agent
 * instance (boot id, instance id), sequence numbers from 0 without gaps, and each event's
 * `prev_digest` equal to the SHA-256 of the full record before it.
 *
 * What it reports, per instance:
 *   - gaps: sequence numbers missing between the first and last seen;
 *   - duplicates: the same event id (boot id, instance id, seq) with identical bytes, as
 *     at-least-once delivery produces after a resend;
 *   - conflicts: the same event id with different bytes (one of them was altered);
 *   - reordering: within one ordered stream (a Kafka partition, a file), an event that first
 *     appears after a later event of the same instance;
 *   - altered events: a break in the hash chain, where event n's digest is not what event
 *     n+1 says it follows (event n's bytes, or event n+1's stamp, were changed).
 * Events that cannot even be decoded are reported too. A modified last event of an instance
 * cannot be caught: nothing after it vouches for its bytes.
 */

import { PidstreamError } from '../common/errors.js';
import { eventDigest } from '../ingest/sequencer.js';
import type { ReadEvent } from './types.js';
import { readStamp } from './wire.js';

/** Events one verification holds in memory (about 150 bytes each); past it, it stops. */
export const MAX_VERIFY_EVENTS = 20_000_000;
/** Problems listed one by one per kind; the rest are counted. */
export const MAX_LISTED = 20;

const ZERO_DIGEST = Buffer.alloc(32);

interface Seen {
  digest: Buffer;
  prevDigest: Buffer;
  position: string;
}

interface InstanceState {
  host: string;
  bootId: string;
  instanceId: string;
  events: Map<number, Seen>;
  duplicates: number;
  conflicts: Problem[];
  reordered: Problem[];
}

export interface Problem {
  seq: number;
  position: string;
  detail: string;
}

export interface Gap {
  /** First missing sequence number. */
  from: number;
  /** Last missing sequence number. */
  to: number;
}

export interface InstanceReport {
  host: string;
  bootId: string;
  instanceId: string;
  /** Distinct events seen. */
  events: number;
  firstSeq: number;
  lastSeq: number;
  gaps: Gap[];
  missing: number;
  duplicates: number;
  conflicts: Problem[];
  reordered: Problem[];
  altered: Problem[];
}

export interface VerifyReport {
  /** Events read, duplicates included. */
  read: number;
  undecodable: Problem[];
  instances: InstanceReport[];
  totals: {
    missing: number;
    duplicates: number;
    conflicts: number;
    reordered: number;
    altered: number;
    undecodable: number;
  };
}

/** The ordered stream an event was read from: a Kafka partition or a file. */
function streamOf(position: string): string {
  const at = position.lastIndexOf('@');
  if (at !== -1) return position.slice(0, at);
  const colon = position.lastIndexOf(':');
  return colon === -1 ? position : position.slice(0, colon);
}

export class StreamVerifier {
  #instances = new Map<string, InstanceState>();
  /** Highest seq seen first per (stream, instance), for the reordering check. */
  #streamHigh = new Map<string, number>();
  #read = 0;
  #stored = 0;
  #undecodable: Problem[] = [];

  add(event: ReadEvent): void {
    this.#read += 1;
    let stamp;
    try {
      stamp = readStamp(event.bytes, event.position);
    } catch (err) {
      this.#undecodable.push({ seq: -1, position: event.position, detail: String(err) });
      return;
    }
    const key = `${stamp.bootId}/${stamp.instanceId}`;
    let state = this.#instances.get(key);
    if (state === undefined) {
      state = {
        host: stamp.host,
        bootId: stamp.bootId,
        instanceId: stamp.instanceId,
        events: new Map(),
        duplicates: 0,
        conflicts: [],
        reordered: [],
      };
      this.#instances.set(key, state);
    }
    const digest = eventDigest(event.bytes);
    const earlier = state.events.get(stamp.seq);
    if (earlier !== undefined) {
      if (earlier.digest.equals(digest)) state.duplicates += 1;
      else {
        state.conflicts.push({
          seq: stamp.seq,
          position: event.position,
          detail: `differs from the event with the same id at ${earlier.position}`,
        });
      }
      return;
    }
    if (++this.#stored > MAX_VERIFY_EVENTS) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_VERIFY',
        `verifying more than ${MAX_VERIFY_EVENTS} events at once; narrow the source (a time range or one topic)`,
      );
    }
    state.events.set(stamp.seq, {
      digest,
      prevDigest: Buffer.from(stamp.prevDigest),
      position: event.position,
    });
    const streamKey = `${streamOf(event.position)}\n${key}`;
    const high = this.#streamHigh.get(streamKey);
    if (high !== undefined && stamp.seq < high) {
      state.reordered.push({
        seq: stamp.seq,
        position: event.position,
        detail: `arrived after seq ${high} in ${streamOf(event.position)}`,
      });
    } else this.#streamHigh.set(streamKey, stamp.seq);
  }

  report(): VerifyReport {
    const instances = [...this.#instances.values()].map(instanceReport);
    const sum = (f: (i: InstanceReport) => number): number =>
      instances.reduce((n, i) => n + f(i), 0);
    return {
      read: this.#read,
      undecodable: this.#undecodable,
      instances,
      totals: {
        missing: sum((i) => i.missing),
        duplicates: sum((i) => i.duplicates),
        conflicts: sum((i) => i.conflicts.length),
        reordered: sum((i) => i.reordered.length),
        altered: sum((i) => i.altered.length),
        undecodable: this.#undecodable.length,
      },
    };
  }
}

function instanceReport(state: InstanceState): InstanceReport {
  const seqs = [...state.events.keys()].sort((a, b) => a - b);
  const gaps: Gap[] = [];
  const altered: Problem[] = [];
  let missing = 0;
  for (let i = 0; i < seqs.length; i++) {
    const seq = seqs[i] as number;
    const entry = state.events.get(seq) as Seen;
    if (seq === 0 && !entry.prevDigest.equals(ZERO_DIGEST)) {
      altered.push({ seq, position: entry.position, detail: 'seq 0 does not start the chain' });
    }
    const next = seqs[i + 1];
    if (next === undefined) continue;
    if (next > seq + 1) {
      gaps.push({ from: seq + 1, to: next - 1 });
      missing += next - seq - 1;
      continue;
    }
    const after = state.events.get(next) as Seen;
    if (!after.prevDigest.equals(entry.digest)) {
      altered.push({
        seq,
        position: entry.position,
        detail: `its SHA-256 is not the prev_digest of seq ${next} (${after.position})`,
      });
    }
  }
  return {
    host: state.host,
    bootId: state.bootId,
    instanceId: state.instanceId,
    events: seqs.length,
    firstSeq: seqs[0] ?? 0,
    lastSeq: seqs[seqs.length - 1] ?? 0,
    gaps,
    missing,
    duplicates: state.duplicates,
    conflicts: state.conflicts,
    reordered: state.reordered,
    altered,
  };
}

/** True when the report shows a problem; duplicates count unless they are allowed. */
export function hasProblems(report: VerifyReport, allowDuplicates: boolean): boolean {
  const t = report.totals;
  const hard = t.missing + t.conflicts + t.reordered + t.altered + t.undecodable;
  return hard > 0 || (!allowDuplicates && t.duplicates > 0);
}

/** The report as a table per instance, then each problem on its own line (capped per kind). */
export function formatReport(report: VerifyReport): string {
  const header = ['host', 'boot_id', 'instance_id', 'seqs', 'events', 'missing', 'dup', 'conflict'];
  header.push('reorder', 'altered');
  const rows = report.instances.map((i) => [
    i.host,
    i.bootId,
    i.instanceId,
    `${i.firstSeq}..${i.lastSeq}`,
    String(i.events),
    String(i.missing),
    String(i.duplicates),
    String(i.conflicts.length),
    String(i.reordered.length),
    String(i.altered.length),
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((r) => (r[c] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((cell, c) => cell.padEnd(widths[c] as number))
      .join('  ')
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const i of report.instances) {
    const who = `${i.host} ${i.instanceId}`;
    listed(
      out,
      i.gaps,
      (g) => `gap      ${who}: seq ${g.from}..${g.to} missing (${g.to - g.from + 1})`,
    );
    listed(out, i.conflicts, (p) => `conflict ${who}: seq ${p.seq} at ${p.position} ${p.detail}`);
    listed(out, i.reordered, (p) => `reorder  ${who}: seq ${p.seq} at ${p.position} ${p.detail}`);
    listed(out, i.altered, (p) => `altered  ${who}: seq ${p.seq} at ${p.position}: ${p.detail}`);
  }
  listed(out, report.undecodable, (p) => `undecodable at ${p.position}: ${p.detail}`);
  const t = report.totals;
  out.push(
    `${report.read} events read; missing ${t.missing}, duplicates ${t.duplicates}, ` +
      `conflicts ${t.conflicts}, reordered ${t.reordered}, altered ${t.altered}, ` +
      `undecodable ${t.undecodable}`,
  );
  return `${out.join('\n')}\n`;
}

function listed<T>(out: string[], items: readonly T[], show: (item: T) => string): void {
  for (const item of items.slice(0, MAX_LISTED)) out.push(show(item));
  if (items.length > MAX_LISTED) out.push(`  … and ${items.length - MAX_LISTED} more`);
}
