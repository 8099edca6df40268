/**
 * What a raw wait status says about how a process ended, and the classification pidstream
 * gives it. The layout is the kernel's (`kernel/exit.c`, unchanged since Linux 1.0): bits 0-6
 * hold the terminating signal, bit 7 the core-dumped flag, bits 8-15 the exit code.
 */

export type ExitClass = 'CLEAN' | 'ERROR' | 'KILLED' | 'CRASHED' | 'OOM_KILLED' | 'UNKNOWN';

export interface ExitStatus {
  exitCode: number | null;
  signal: number | null;
  coreDumped: boolean;
}

const SIGKILL = 9;
const SIGNAL_MASK = 0x7f;
const CORE_DUMPED = 0x80;
/** 0x7f in the signal bits marks a stopped (WIFSTOPPED) status, never an end. */
const STOPPED = 0x7f;

const NO_STATUS: ExitStatus = { exitCode: null, signal: null, coreDumped: false };

/** Splits a wait status into exit code or signal; `null` status (unknown) gives neither. */
export function splitWaitStatus(status: number | null): ExitStatus {
  if (status === null) return NO_STATUS;
  const signal = status & SIGNAL_MASK;
  if (signal === 0) return { exitCode: (status >> 8) & 0xff, signal: null, coreDumped: false };
  if (signal === STOPPED) return NO_STATUS;
  return { exitCode: null, signal, coreDumped: (status & CORE_DUMPED) !== 0 };
}

/**
 * CLEAN: exit 0. ERROR: any other exit code. CRASHED: a signal with a core dump. OOM_KILLED:
 * SIGKILL while the ingest saw the cgroup's `oom_kill` counter grow. KILLED: any other signal.
 * UNKNOWN: no status at all.
 */
export function classify(status: ExitStatus, oomKill: boolean): ExitClass {
  if (status.exitCode !== null) return status.exitCode === 0 ? 'CLEAN' : 'ERROR';
  if (status.signal === null) return 'UNKNOWN';
  if (status.coreDumped) return 'CRASHED';
  if (status.signal === SIGKILL && oomKill) return 'OOM_KILLED';
  return 'KILLED';
}
