/**
 * Builds the bodies of synthetic events exactly as the agent would fill them: the process
 * identity, credentials, cgroup attribution, raw wait status and classification.
 */
import { basename } from 'node:path';

import { signalName } from '../../workers/signals.js';
import { Host, PROGRAMS, ProgramName } from './fleet.js';
import { Crash } from './signatures.js';

export type ExitClass = 'CLEAN' | 'ERROR' | 'KILLED' | 'CRASHED' | 'OOM_KILLED';

/** How one process ends: the exit code for CLEAN/ERROR, the signal otherwise. */
export interface Ending {
  classification: ExitClass;
  exitCode: number | null;
  signal: number | null;
}

/** A process that lived on a host: what both its Coredump and its ProcessExit describe. */
export interface SynthProcess {
  host: Host;
  program: ProgramName;
  pid: number;
  pidfsIno: number;
  startUs: number;
}

/** The kernel's comm: the executable's basename cut to TASK_COMM_LEN - 1 = 15 bytes. */
function commOf(exe: string): string {
  return basename(exe).slice(0, 15);
}

function cgroupOf(proc: SynthProcess): Record<string, unknown> {
  const program = PROGRAMS[proc.program];
  const id = proc.host.cgroupId(proc.program);
  if (program.unit !== null) {
    return {
      id,
      path: `/${program.slice}/${program.unit}`,
      unit: program.unit,
      slice: program.slice,
      container_id: null,
      pod_uid: null,
    };
  }
  const pod = proc.host.pod(proc.program);
  const podSlice = `kubepods-burstable-pod${pod.podUid.replaceAll('-', '_')}.slice`;
  const scope = `cri-containerd-${pod.containerId}.scope`;
  return {
    id,
    path: `/kubepods.slice/kubepods-burstable.slice/${podSlice}/${scope}`,
    unit: scope,
    slice: podSlice,
    container_id: pod.containerId,
    pod_uid: pod.podUid,
  };
}

function identityOf(proc: SynthProcess): Record<string, unknown> {
  const program = PROGRAMS[proc.program];
  const uid = program.uid;
  return {
    process: {
      boot_id: proc.host.bootId,
      pidfs_ino: proc.pidfsIno,
      pid: proc.pid,
      start_time: proc.startUs,
    },
    ppid: program.unit === null ? proc.pid - 7 : 1,
    comm: commOf(program.exe),
    exe: program.exe,
    argv: [...program.argv],
    argv_truncated: false,
    credentials: {
      ruid: uid,
      rgid: uid,
      euid: uid,
      egid: uid,
      suid: uid,
      sgid: uid,
      fsuid: uid,
      fsgid: uid,
    },
    user: program.user,
  };
}

/** How fast the coredump socket takes a core (DESIGN.md: about 320 MiB/s to disk). */
export const CORE_BYTES_PER_US = 320;

/** PIDFD_COREDUMPED | PIDFD_COREDUMP_USER, from uapi linux/pidfd.h (Linux 6.16). */
const COREDUMP_MASK_DUMPED = 0x1 | 0x4;

/** The raw wait status waitpid would report: code << 8, or the signal with 0x80 for a core. */
function waitStatus(ending: Ending): number {
  if (ending.signal === null) return (ending.exitCode ?? 0) << 8;
  return ending.signal | (ending.classification === 'CRASHED' ? 0x80 : 0);
}

export function exitBody(
  proc: SynthProcess,
  timeUs: number,
  ending: Ending,
  coredumpSeq: number | null,
  fromConnector: boolean,
): Record<string, unknown> {
  const crashed = ending.classification === 'CRASHED';
  return {
    time: timeUs,
    ...identityOf(proc),
    wait_status: waitStatus(ending),
    exit_code: ending.exitCode,
    signal: ending.signal,
    signal_name: ending.signal === null ? null : signalName(ending.signal),
    core_dumped: crashed,
    classification: ending.classification,
    coredump_mask: fromConnector ? null : crashed ? COREDUMP_MASK_DUMPED : 0,
    lifetime_us: timeUs - proc.startUs,
    cgroup: cgroupOf(proc),
    source: fromConnector ? 'PROC_CONNECTOR' : 'PIDFD',
    discovery: timeUs - proc.startUs > 3_600_000_000 ? 'SCAN' : 'FORK',
    unreaped: false,
    coredump_seq: coredumpSeq,
  };
}

export function coredumpBody(
  proc: SynthProcess,
  timeUs: number,
  crash: Crash,
  faultAddress: number | null,
  threads: number,
  coreSize: number,
): Record<string, unknown> {
  return {
    time: timeUs,
    ...identityOf(proc),
    cgroup: cgroupOf(proc),
    signal: crash.signal,
    signal_name: signalName(crash.signal),
    si_code: crash.siCode,
    fault_address: faultAddress,
    thread_count: threads,
    crashing_tid: proc.pid + (threads > 1 ? threads - 1 : 0),
    coredump_mask: COREDUMP_MASK_DUMPED,
    verdict: 'ACCEPTED',
    verdict_reason: null,
    blocked_us: Math.round(coreSize / CORE_BYTES_PER_US),
    cwd: '/',
    core_rlimit: null,
    root_mount: null,
    core_size: coreSize,
    truncated: false,
    stored: null,
    modules: crash.modules,
    backtrace: crash.backtrace,
    signature: crash.signature,
    analysis_error: null,
  };
}

export function agentBody(
  timeUs: number,
  kind: 'START' | 'STOP',
  message: string,
  attributes: Record<string, string>,
): Record<string, unknown> {
  return { time: timeUs, kind, loss_kind: null, count: 0, message, attributes };
}
