/**
 * The /proc scan: at start (after the connector subscription, so a process is either found
 * here or announced by a notice) and after a connector overflow. Each process not yet in the
 * table gets a pidfd and its live metadata; a zombie found here starts its unreaped bound now.
 */
import { readdirSync } from 'node:fs';

import { isPidName, type ProcReader } from '../native/procfs.js';
import { DISCOVERY_SCAN } from '../workers/protocol.js';
import { type Clocks, monoNowNs } from './clock.js';
import { NO_FD, ProcEntry, type ProcessTable } from './process-table.js';

export interface ScanSteps {
  /** Opens the pidfd (leaves NO_FD when the process is already gone). */
  open(entry: ProcEntry): void;
  /** Reads comm, exe, argv, credentials and cgroup. */
  capture(entry: ProcEntry): void;
  proc: ProcReader;
  clocks: Clocks;
}

/** Returns how many processes were added. */
export function scanProc(table: ProcessTable, steps: ScanSteps): number {
  let added = 0;
  for (const name of readdirSync('/proc')) {
    if (!isPidName(name)) continue;
    const pid = Number(name);
    if (table.byPid(pid) !== undefined) continue;
    const entry = new ProcEntry(pid, DISCOVERY_SCAN, 0, 0);
    steps.open(entry);
    if (entry.pidfd === NO_FD) continue;
    // stat is read after the pidfd is open, so it describes the process the pidfd holds.
    const stat = steps.proc.stat(pid);
    if (stat !== null) {
      entry.startMonoNs = steps.clocks.ticksToMonoNs(stat.startTicks);
      entry.startWallUs = steps.clocks.monoToWallUs(entry.startMonoNs);
      entry.ppid = stat.ppid;
      entry.comm = stat.comm;
    }
    steps.capture(entry);
    table.add(entry);
    if (stat?.state === 'Z') {
      entry.exitMonoNs = monoNowNs();
      table.markExited(entry);
    }
    added++;
  }
  return added;
}
