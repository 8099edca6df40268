/** Stamped events with known contents, for the file, JSON-lines and `cat` suites. */
import { Sequencer, type StampedEvent } from '../../ingest/sequencer.js';
import { bodyType } from '../../schemas/index.js';

export const HOST = 'files-test-host';
export const BOOT_ID = '0b9e1c7e-5d2a-4f3b-9c8d-7e6f5a4b3c2d';
export const INSTANCE_ID = '5f0c3a8e-1b2d-4c6e-8f9a-0b1c2d3e4f5a';
/** 2026-12-03T19:26:26.123456Z */
export const T0 = 1_796_325_986_123_456;

export function sequencer(): Sequencer {
  return new Sequencer({ host: HOST, bootId: BOOT_ID, instanceId: INSTANCE_ID });
}

export function agentEvent(seq: Sequencer, timeUs: number, message: string): StampedEvent {
  const body = bodyType('AgentEvent').toBuffer({
    time: timeUs,
    kind: 'NOTICE',
    loss_kind: null,
    count: 0,
    message,
    attributes: { note: message },
  });
  return seq.stamp('AgentEvent', body);
}

/** A ProcessExit body as the workers make it for `/bin/false` exiting 1. */
export function exitBody(timeUs: number, pid: number): Record<string, unknown> {
  return {
    time: timeUs,
    process: { boot_id: BOOT_ID, pidfs_ino: 77_001, pid, start_time: timeUs - 2_500 },
    ppid: 1,
    comm: 'false',
    exe: '/usr/bin/false',
    argv: ['false'],
    argv_truncated: false,
    credentials: {
      ruid: 0,
      rgid: 0,
      euid: 0,
      egid: 0,
      suid: 0,
      sgid: 0,
      fsuid: 0,
      fsgid: 0,
    },
    user: 'root',
    wait_status: 256,
    exit_code: 1,
    signal: null,
    signal_name: null,
    core_dumped: false,
    classification: 'ERROR',
    coredump_mask: null,
    lifetime_us: 2_500,
    cgroup: {
      id: 1,
      path: '/',
      unit: null,
      slice: null,
      container_id: null,
      pod_uid: null,
    },
    source: 'PIDFD',
    discovery: 'FORK',
    unreaped: false,
    coredump_seq: null,
  };
}

export function exitEvent(seq: Sequencer, timeUs: number, pid: number): StampedEvent {
  return seq.stamp('ProcessExit', bodyType('ProcessExit').toBuffer(exitBody(timeUs, pid)));
}

/** `count` events alternating exits and notices, one millisecond apart from T0. */
export function mixedEvents(seq: Sequencer, count: number, from = T0): StampedEvent[] {
  return Array.from({ length: count }, (_, i) =>
    i % 2 === 0
      ? exitEvent(seq, from + i * 1000, 1000 + i)
      : agentEvent(seq, from + i * 1000, `n${i}`),
  );
}
