/**
 * The Coredump event body for one crash: the process identity it shares with ProcessExit
 * (boot id, pidfs inode, pid, start time), what /proc said while the kernel waited, the
 * verdict, the stream's size and fate, and the analysis.
 */
import { readBootId } from '../../common/host.js';
import { bodyType } from '../../schemas/index.js';
import { parseCgroupPath } from '../../workers/cgroup-path.js';
import { signalName } from '../../workers/signals.js';
import { UserNames } from '../../workers/user-names.js';
import type { Clocks } from '../clock.js';
import type { Redactor } from '../redaction.js';
import type { CrashReport } from './server.js';

const decoder = new TextDecoder();

export class CoredumpEncoder {
  readonly #type = bodyType('Coredump');
  readonly #users: UserNames;
  readonly #redactor: Redactor;
  readonly #clocks: Clocks;

  constructor(redactor: Redactor, clocks: Clocks, passwdPath = '/etc/passwd') {
    this.#redactor = redactor;
    this.#clocks = clocks;
    this.#users = new UserNames(passwdPath);
  }

  /** The body as an object with the schema's field names. */
  body(r: CrashReport): Record<string, unknown> {
    const c = r.capture;
    const info = c?.info ?? null;
    const a = r.analysis;
    const cgroupPath = c?.cgroupPath ?? null;
    const facts = cgroupPath === null ? null : parseCgroupPath(cgroupPath);
    const argv = c === null ? [] : decoder.decode(this.#redactor.redact(c.argv)).split('\0');
    this.#users.refresh();
    const startTime =
      c?.startTicks == null
        ? null
        : this.#clocks.monoToWallUs(this.#clocks.ticksToMonoNs(c.startTicks));
    return {
      time: r.timeUs,
      process: {
        boot_id: readBootId(),
        pidfs_ino: c?.pidfsIno ?? null,
        pid: r.pid,
        start_time: startTime,
      },
      ppid: c?.ppid ?? null,
      comm: c?.comm ?? '',
      exe: c?.exe ?? null,
      argv: argv.length === 1 && argv[0] === '' ? [] : argv,
      argv_truncated: c?.argvTruncated ?? false,
      credentials:
        info === null
          ? null
          : {
              ruid: info.ruid,
              rgid: info.rgid,
              euid: info.euid,
              egid: info.egid,
              suid: info.suid,
              sgid: info.sgid,
              fsuid: info.fsuid,
              fsgid: info.fsgid,
            },
      user: info === null ? null : (this.#users.name(info.ruid) ?? null),
      cgroup: {
        id: info === null || info.cgroupid === 0 ? null : info.cgroupid,
        path: cgroupPath,
        unit: facts?.unit ?? null,
        slice: facts?.slice ?? null,
        container_id: facts?.containerId ?? null,
        pod_uid: facts?.podUid ?? null,
      },
      signal: a.signal,
      signal_name: a.signal === null ? null : signalName(a.signal),
      si_code: a.si_code,
      fault_address: a.fault_address,
      thread_count: a.thread_count,
      crashing_tid: a.crashing_tid,
      coredump_mask: r.coredumpMask,
      verdict: r.verdict,
      verdict_reason: r.reason,
      blocked_us: r.blockedUs,
      cwd: c?.cwd ?? null,
      core_rlimit: c?.coreRlimit ?? null,
      root_mount:
        c?.rootMount == null
          ? null
          : {
              mnt_ns_id: c.rootMount.mntNsId,
              mnt_id: c.rootMount.mntId,
              fs_type: c.rootMount.fsType,
              mnt_root: c.rootMount.mntRoot,
              device: c.rootMount.device,
            },
      core_size: r.coreSize,
      truncated: r.truncated,
      stored: r.stored,
      modules: a.modules,
      backtrace: a.backtrace,
      signature: a.signature,
      analysis_error: a.analysis_error,
    };
  }

  encode(r: CrashReport): Buffer {
    return this.#type.toBuffer(this.body(r));
  }
}
