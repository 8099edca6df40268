/**
 * A small, fast, deterministic fleet of events for the query benchmark and the query tests:
 * a few hosts run a handful of programs that exit cleanly, fail, get killed, crash with a core
 * dump or are OOM-killed. Every event is a real stamped Avro record (body encoded with the
 * schema, stamp and hash chain from the sequencer), so loading it exercises the full decoder.
 */
import { Sequencer } from '../../ingest/sequencer.js';
import { bodyType, type EventName } from '../../schemas/index.js';
import type { ReadEvent } from '../../streams/types.js';

export interface FleetOptions {
  seed: number;
  events: number;
  hosts: number;
  /** Wall-clock microseconds of the first event. */
  startUs: number;
  /** Microseconds between consecutive events of the fleet. */
  stepUs: number;
}

const PROGRAMS = [
  { exe: '/usr/sbin/nginx', comm: 'nginx', unit: 'nginx.service' },
  { exe: '/usr/bin/python3.11', comm: 'python3', unit: 'etl.service' },
  { exe: '/usr/lib/postgresql/15/bin/postgres', comm: 'postgres', unit: 'postgresql.service' },
  { exe: '/opt/app/bin/api-server', comm: 'api-server', unit: 'api.service' },
  { exe: '/usr/bin/curl', comm: 'curl', unit: 'healthcheck.service' },
  { exe: '/usr/bin/sh', comm: 'sh', unit: 'cron.service' },
] as const;

const CRASH_SIGNALS = [
  { signal: 11, name: 'SIGSEGV' },
  { signal: 6, name: 'SIGABRT' },
  { signal: 7, name: 'SIGBUS' },
] as const;

/** Mulberry32: a tiny seeded PRNG, enough for reproducible test data. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uuid(next: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(next() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-a${hex.slice(17, 20)}-${hex.slice(20)}`;
}

interface Host {
  name: string;
  bootId: string;
  sequencer: Sequencer;
}

/** Yields `options.events` events, round-robin over the hosts, each host's stream in order. */
export function* fleetEvents(options: FleetOptions): Generator<ReadEvent> {
  const next = random(options.seed);
  const hosts: Host[] = [];
  for (let h = 0; h < options.hosts; h++) {
    const bootId = uuid(next);
    const name = `host-${String(h).padStart(3, '0')}`;
    hosts.push({
      name,
      bootId,
      sequencer: new Sequencer({ host: name, bootId, instanceId: uuid(next) }),
    });
  }
  const exitType = bodyType('ProcessExit');
  const coreType = bodyType('Coredump');
  const agentType = bodyType('AgentEvent');
  let pid = 1000;
  for (let i = 0; i < options.events; i++) {
    const host = hosts[i % hosts.length]!;
    const time = options.startUs + i * options.stepUs;
    const emit = (name: EventName, body: Buffer): ReadEvent => {
      const stamped = host.sequencer.stamp(name, body);
      return { name, bytes: stamped.bytes, timeUs: time, position: `fleet:${i}` };
    };
    if (host.sequencer.nextSeq === 0) {
      yield emit('AgentEvent', agentType.toBuffer(agentBody(time, 'START')));
      continue;
    }
    const program = PROGRAMS[Math.floor(next() * PROGRAMS.length)]!;
    const roll = next();
    pid = pid >= 4_000_000 ? 1000 : pid + 1;
    const base = processBase(host, program, pid, time, next);
    if (roll < 0.01) {
      const crash = CRASH_SIGNALS[Math.floor(next() * CRASH_SIGNALS.length)]!;
      const frame = Math.floor(next() * 3);
      const core = emit('Coredump', coreType.toBuffer(coredumpBody(base, crash, frame)));
      yield core;
      yield emit(
        'ProcessExit',
        exitType.toBuffer(exitBody(base, { crash, coredumpSeq: host.sequencer.nextSeq - 1 })),
      );
      continue;
    }
    if (roll < 0.015) {
      yield emit('ProcessExit', exitType.toBuffer(exitBody(base, { oom: true })));
      continue;
    }
    if (roll < 0.0152) {
      yield emit('AgentEvent', agentType.toBuffer(agentBody(time, 'LOSS')));
      continue;
    }
    const code = roll < 0.1 ? 1 + Math.floor(next() * 3) : roll < 0.12 ? -9 : 0;
    yield emit('ProcessExit', exitType.toBuffer(exitBody(base, { code })));
  }
}

interface ProcessBase {
  time: number;
  bootId: string;
  pid: number;
  exe: string;
  comm: string;
  unit: string;
  argv: string[];
}

function processBase(
  host: Host,
  program: (typeof PROGRAMS)[number],
  pid: number,
  time: number,
  next: () => number,
): ProcessBase {
  const argv = [program.exe, `--worker=${Math.floor(next() * 4)}`];
  return {
    time,
    bootId: host.bootId,
    pid,
    exe: program.exe,
    comm: program.comm,
    unit: program.unit,
    argv,
  };
}

function processFields(base: ProcessBase): Record<string, unknown> {
  return {
    time: base.time,
    process: {
      boot_id: base.bootId,
      pidfs_ino: base.pid + 0x40000000,
      pid: base.pid,
      start_time: base.time - 2_500_000,
    },
    ppid: 1,
    comm: base.comm,
    exe: base.exe,
    argv: base.argv,
    argv_truncated: false,
    credentials: {
      ruid: 33,
      rgid: 33,
      euid: 33,
      egid: 33,
      suid: 33,
      sgid: 33,
      fsuid: 33,
      fsgid: 33,
    },
    user: 'www-data',
  };
}

function cgroupOf(unit: string): Record<string, unknown> {
  return {
    id: 4000 + unit.length,
    path: `/system.slice/${unit}`,
    unit,
    slice: 'system.slice',
    container_id: null,
    pod_uid: null,
  };
}

function exitBody(
  base: ProcessBase,
  end: {
    code?: number;
    crash?: { signal: number; name: string };
    coredumpSeq?: number;
    oom?: boolean;
  },
): Record<string, unknown> {
  const signal = end.crash?.signal ?? (end.oom === true || end.code === -9 ? 9 : null);
  const signalName = end.crash?.name ?? (signal === 9 ? 'SIGKILL' : null);
  const exitCode = signal === null ? (end.code ?? 0) : null;
  const classification =
    end.crash !== undefined
      ? 'CRASHED'
      : end.oom === true
        ? 'OOM_KILLED'
        : signal !== null
          ? 'KILLED'
          : exitCode === 0
            ? 'CLEAN'
            : 'ERROR';
  const waitStatus = signal === null ? (exitCode ?? 0) << 8 : signal | (end.crash ? 0x80 : 0);
  return {
    ...processFields(base),
    wait_status: waitStatus,
    exit_code: exitCode,
    signal,
    signal_name: signalName,
    core_dumped: end.crash !== undefined,
    classification,
    coredump_mask: end.crash !== undefined ? 1 : null,
    lifetime_us: 2_500_000,
    cgroup: cgroupOf(base.unit),
    source: 'PIDFD',
    discovery: 'FORK',
    unreaped: false,
    coredump_seq: end.coredumpSeq ?? null,
  };
}

function coredumpBody(
  base: ProcessBase,
  crash: { signal: number; name: string },
  frame: number,
): Record<string, unknown> {
  const offset = 0x1000 + frame * 0x40 + crash.signal;
  return {
    ...processFields(base),
    cgroup: cgroupOf(base.unit),
    signal: crash.signal,
    signal_name: crash.name,
    si_code: 1,
    fault_address: crash.signal === 6 ? null : 0,
    thread_count: 1,
    crashing_tid: base.pid,
    coredump_mask: 1,
    verdict: 'ACCEPTED',
    core_size: 1 << 20,
    truncated: false,
    stored: null,
    modules: [
      { path: base.exe, start: 0x400000, end: 0x800000, build_id: 'ab'.repeat(20), package: null },
    ],
    backtrace: [{ module: base.exe, build_id: 'ab'.repeat(20), offset, method: 'PC' }],
    signature: `${base.comm}-${crash.name}-${offset.toString(16)}`,
    analysis_error: null,
  };
}

function agentBody(time: number, kind: 'START' | 'LOSS'): Record<string, unknown> {
  return {
    time,
    kind,
    loss_kind: kind === 'LOSS' ? 'NETLINK_OVERFLOW' : null,
    count: 0,
    message: kind === 'LOSS' ? 'netlink receive overflowed (ENOBUFS)' : 'agent started',
    attributes: { version: '0.1.0' },
  };
}
