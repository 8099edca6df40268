/**
 * The exit watcher: discovery through the proc connector and /proc scans, a pidfd for every
 * process, and one epoll set over the connector socket and all pidfds. It runs on a thread of
 * its own (ingest/watcher-thread.ts) and blocks in `epoll_wait` there, so it wakes exactly
 * when the kernel has something, like a C watcher would, and never waits behind the stamping,
 * hashing and writing on the main thread.
 *
 * Every exit the kernel reports becomes exactly one raw exit record:
 *  - PIDFD: the pidfd hung up (reaped, Linux 6.9) and PIDFD_INFO_EXIT (Linux 6.15) gives the
 *    wait status, cgroup id and coredump mask;
 *  - PROC_CONNECTOR: pidfd_open lost the race (ESRCH: already reaped) or the pid was never
 *    seen alive, so the connector's exit notice is all there is;
 *  - ZOMBIE_TIMEOUT: the process exited but its parent did not reap it within the bound; the
 *    pidfd is closed at once so the later reap cannot produce a second record.
 *
 * Each wake drains the connector before it looks at pidfds, so a hang-up usually finds its
 * process's exit notice read. Not always: the kernel makes a task reapable before it sends
 * that notice, so a reap on another CPU can come first. A process reaped before its notice
 * waits for it in #reapedBeforeNotice, and the notice, when it comes, is matched there instead
 * of being reported again as the exit of an unknown process.
 */
import { isErrno, SyscallError } from '../common/errors.js';
import {
  close,
  EPOLL_CTL_ADD,
  EPOLL_CTL_MOD,
  EPOLL_EVENT_SIZE,
  epollCreate,
  epollCtl,
  epollWait,
  EPOLLHUP,
  errnoName,
  EPOLLIN,
  read,
  STAT_SIZE,
} from '../native/libc.js';
import {
  PROC_EVENT_EXEC,
  PROC_EVENT_EXIT,
  PROC_EVENT_FORK,
  PROC_EVENT_UID,
  ProcConnector,
  type ProcNotice,
} from '../native/netlink.js';
import {
  INFO_OFF_CGROUPID,
  INFO_OFF_COREDUMP_MASK,
  INFO_OFF_EXIT_CODE,
  INFO_OFF_MASK,
  INFO_OFF_PPID,
  INFO_OFF_RUID,
  PIDFD_INFO_CGROUPID,
  PIDFD_INFO_COREDUMP,
  PIDFD_INFO_CREDS,
  PIDFD_INFO_EXIT,
  PIDFD_GET_INFO,
  PIDFD_INFO_SIZE,
  pidfdGetInfoRaw,
  pidfdOpen,
  pidfsInode,
} from '../native/pidfd.js';
import { ProcReader } from '../native/procfs.js';
import { closeQuiet, ioctlQuiet, pidfdOpenQuiet } from '../native/quiet.js';
import {
  DISCOVERY_EXEC,
  DISCOVERY_EXIT_ONLY,
  DISCOVERY_FORK,
  FLAG_ARGV_TRUNCATED,
  FLAG_CGROUP_ID,
  FLAG_COREDUMP_MASK,
  FLAG_COREDUMP_SEQ,
  FLAG_CREDS,
  FLAG_OOM_KILL,
  FLAG_PIDFS_INO,
  FLAG_PPID,
  FLAG_START_TIME,
  FLAG_UNREAPED,
  FLAG_WAIT_STATUS,
  type RawExit,
  SOURCE_PIDFD,
  SOURCE_PROC_CONNECTOR,
  SOURCE_ZOMBIE_TIMEOUT,
} from '../workers/protocol.js';
import { Clocks, monoNowNs } from './clock.js';
import { OomTracker } from './oom.js';
import { type Creds, NO_FD, ProcEntry, ProcessTable } from './process-table.js';
import type { Redactor } from './redaction.js';
import { scanProc } from './scan.js';

/** epoll events taken per wake. */
const EPOLL_MAX_EVENTS = 1024;
/**
 * Without the proc connector (not root), new processes are found only by rescanning /proc:
 * those that live at least this long are watched, shorter ones are not seen at all.
 */
const RESCAN_WITHOUT_CONNECTOR_NS = 1e9;
/** How often exited, unreaped processes are checked against the zombie bound. */
export const SWEEP_INTERVAL_MS = 250;
/**
 * Connector notices read per wake before the pidfds get their turn. Hang-ups are
 * level-triggered, so a wake that stops early handles them at the next one.
 */
const MAX_NOTICES_PER_WAKE = 16_384;
/**
 * pids are allocated cyclically: a pid comes back only after pid_max (32,768 here) further
 * allocations, threads included. A fork notice read within this lag cannot name a reused pid
 * unless the host allocates over 300,000 pids a second; an older one is checked against
 * /proc starttime before its pidfd is trusted.
 */
const PID_REUSE_SAFE_NS = 100e6;
/** /proc starttime has 10 ms grain, and the boottime offset another 10 ms. */
const START_TOLERANCE_NS = 30e6;
/**
 * How long a process reaped before its exit notice arrived waits for that notice. The exiting
 * task sends it microseconds after it became reapable; only a task preempted for this long
 * between the two, or a lost notice, leaves the wait to this bound.
 */
const EXIT_NOTICE_WAIT_NS = 10e9;
/** Cap on processes waiting for their exit notice after their reap; past it the oldest go. */
const MAX_REAPED_BEFORE_NOTICE = 65_536;
const SIGNAL_MASK = 0x7f;
const SIGKILL = 9;
const EXIT_INFO_REQUEST = PIDFD_INFO_EXIT | PIDFD_INFO_COREDUMP | PIDFD_INFO_CGROUPID;

export interface WatcherFeatures {
  /** pidfs inodes are per process (Linux 6.9), not one shared anonymous inode. */
  pidfsInodes: boolean;
  /** PIDFD_GET_INFO (Linux 6.13). */
  pidfdGetInfo: boolean;
  /** PIDFD_INFO_EXIT (Linux 6.15): set once the first reaped pidfd shows it either way. */
  pidfdInfoExit: boolean | null;
  /** The proc connector could be opened (needs CAP_NET_ADMIN). */
  procConnector: boolean;
}

export interface WatcherHooks {
  /**
   * One exit. The record object is the watcher's own and is reused for the next exit: it is
   * valid only during the call (the per-exit path allocates no record).
   */
  exit(record: RawExit): void;
  /**
   * Called before each exit is handed to `exit`: the owner delivers what must reach the
   * watcher before that exit (coredump links, see `linkCoredump`).
   */
  beforeExit(): void;
  /** The connector overflowed: notices were lost; the watcher rescans /proc. */
  overflow(rescanFound: number): void;
  /** A capability turned out to be missing at run time. */
  degraded(feature: string, since: string, detail: string): void;
}

/** What the watcher logs; its owner decides where the lines go. */
export interface WatcherLog {
  info(fields: object, msg: string): void;
  warn(fields: object, msg: string): void;
}

export interface WatcherCounters {
  notices: number;
  forks: number;
  execs: number;
  lostRaces: number;
  zombies: number;
  overflows: number;
  /** pidfd_open refused for lack of descriptors (RLIMIT_NOFILE). */
  fdLimit: number;
  /** Reaps seen before the process's exit notice (see #reapedBeforeNotice). */
  reapedBeforeNotice: number;
}

export class ExitWatcher {
  readonly table = new ProcessTable();
  readonly features: WatcherFeatures;
  readonly counters: WatcherCounters = {
    notices: 0,
    forks: 0,
    execs: 0,
    lostRaces: 0,
    zombies: 0,
    overflows: 0,
    fdLimit: 0,
    reapedBeforeNotice: 0,
  };
  readonly #hooks: WatcherHooks;
  readonly #log: WatcherLog;
  readonly #redactor: Redactor;
  readonly #zombieTimeoutNs: number;
  readonly #clocks = new Clocks();
  readonly #proc = new ProcReader();
  readonly #oom = new OomTracker();
  readonly #epfd: number;
  readonly #wakeFd: number;
  readonly #connector: ProcConnector | null;
  readonly #events = Buffer.alloc(EPOLL_MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #ctl = Buffer.alloc(EPOLL_EVENT_SIZE);
  readonly #info = Buffer.alloc(PIDFD_INFO_SIZE);
  readonly #stat = Buffer.alloc(STAT_SIZE);
  readonly #wakeCount = Buffer.alloc(8);
  readonly #record: RawExit = {
    source: 0,
    discovery: 0,
    flags: 0,
    pid: 0,
    ppid: 0,
    waitStatus: 0,
    coredumpMask: 0,
    creds: NO_CREDS,
    pidfsIno: 0,
    cgroupId: 0,
    startTimeUs: 0,
    exitTimeUs: 0,
    coredumpSeq: 0,
    comm: '',
    exe: '',
    argv: NO_ARGV,
  };
  readonly #onNotice = (n: ProcNotice): void => this.#notice(n);
  /**
   * Processes reaped before their exit notice was read, by pid, in reap order. The kernel
   * makes a task reapable (exit_notify) before it sends its exit notice (proc_exit_connector,
   * both in kernel/exit.c do_exit), so a parent on another CPU can reap it, and its pidfd hang
   * up, in between. The notice that follows belongs to this entry, not to an unknown process.
   */
  readonly #reapedBeforeNotice = new Map<number, ProcEntry>();
  #lastSweepNs = 0;
  #lastScanNs = 0;

  /**
   * Subscribes to the connector and probes the kernel. `wakeFd` is an eventfd owned by the
   * caller: writing to it ends the current wait early.
   */
  constructor(
    hooks: WatcherHooks,
    opts: { redactor: Redactor; zombieTimeoutMs: number; wakeFd: number; log: WatcherLog },
  ) {
    this.#hooks = hooks;
    this.#log = opts.log;
    this.#redactor = opts.redactor;
    this.#zombieTimeoutNs = opts.zombieTimeoutMs * 1e6;
    this.#epfd = epollCreate();
    this.#wakeFd = opts.wakeFd;
    epollCtl(this.#epfd, EPOLL_CTL_ADD, this.#wakeFd, EPOLLIN, this.#wakeFd, this.#ctl);
    this.#connector = this.#openConnector();
    this.features = {
      pidfsInodes: probePidfsInodes(),
      pidfdGetInfo: probePidfdGetInfo(this.#info),
      pidfdInfoExit: null,
      procConnector: this.#connector !== null,
    };
    if (this.#connector !== null) {
      epollCtl(
        this.#epfd,
        EPOLL_CTL_ADD,
        this.#connector.fd,
        EPOLLIN,
        this.#connector.fd,
        this.#ctl,
      );
    }
  }

  #openConnector(): ProcConnector | null {
    try {
      return new ProcConnector();
    } catch (err) {
      if (isErrno(err, 'EPERM') || isErrno(err, 'EACCES') || isErrno(err, 'EPROTONOSUPPORT')) {
        this.#log.warn({ error: (err as Error).message }, 'proc connector unavailable');
        return null;
      }
      throw err;
    }
  }

  /** Scans /proc (after subscribing, so nothing falls between the two); returns how many. */
  start(): number {
    const found = this.#scan();
    this.#log.info({ found, watched: this.table.watched }, 'initial /proc scan done');
    this.#lastSweepNs = monoNowNs();
    return found;
  }

  /**
   * At stop, after the last wake: processes reaped whose exit notice has not arrived stop
   * waiting for it, and a record that waited for it is written with what is known.
   */
  finish(): void {
    this.#expireReaped(Infinity);
  }

  /** Closes every fd the watcher opened (the wake fd stays its owner's). */
  close(): void {
    for (const entry of this.table.watchedEntries()) close(entry.pidfd);
    this.#connector?.close();
    close(this.#epfd);
  }

  /**
   * Records that a Coredump event with `seq` was written for the process, for its exit.
   * Returns false when no such process is known (its exit was already handled).
   */
  linkCoredump(pid: number, pidfsIno: number, seq: number): boolean {
    const matches = (e: ProcEntry | undefined): boolean =>
      e !== undefined && e.pid === pid && (pidfsIno === 0 || e.pidfsIno === pidfsIno);
    let entry = this.table.byPid(pid);
    if (!matches(entry)) entry = [...this.table.exited].find(matches);
    if (entry === undefined) return false;
    entry.coredumpSeq = seq;
    return true;
  }

  /** Milliseconds until the watcher has timed work of its own (the zombie sweep). */
  msUntilDue(): number {
    const sinceSweepMs = (monoNowNs() - this.#lastSweepNs) / 1e6;
    return Math.max(0, Math.ceil(SWEEP_INTERVAL_MS - sinceSweepMs));
  }

  /**
   * Blocks in epoll_wait for at most `timeoutMs` (0: a poll); returns how many fds are ready,
   * for `handle`. A failure here means the watcher cannot go on.
   */
  wait(timeoutMs: number): number {
    return epollWait(this.#epfd, this.#events, timeoutMs);
  }

  /**
   * Handles what the last `wait` reported; returns how many notices and pidfd events it
   * handled. A failure here concerns one wake: the next one starts afresh.
   */
  handle(count: number): number {
    const noticesBefore = this.counters.notices;
    // The connector socket is in the epoll set: with no fd ready there is nothing to read, and
    // an empty wake costs no further system call.
    const drained = count > 0 ? this.#drainConnector() : true;
    const ev = this.#events;
    const connectorFd = this.#connector?.fd ?? -1;
    let work = 0;
    for (let i = 0; i < count; i++) {
      const at = i * EPOLL_EVENT_SIZE;
      const flags = ev.readUInt32LE(at);
      const fd = ev.readUInt32LE(at + 4);
      if (fd === connectorFd) continue;
      if (fd === this.#wakeFd) {
        // Reading resets the eventfd; the owner then looks at what it was woken for.
        read(this.#wakeFd, this.#wakeCount);
        continue;
      }
      if (!drained) continue;
      const entry = this.table.byFd(fd);
      if (entry === undefined) continue;
      if ((flags & EPOLLHUP) !== 0) this.#reaped(entry);
      else if ((flags & EPOLLIN) !== 0 && entry.zombieArmed) this.#unreaped(entry);
      work++;
    }
    const now = monoNowNs();
    if (now - this.#lastSweepNs >= SWEEP_INTERVAL_MS * 1e6) {
      this.#lastSweepNs = now;
      this.#sweepZombies(now);
      this.#expireReaped(now);
    }
    if (this.#connector === null && now - this.#lastScanNs >= RESCAN_WITHOUT_CONNECTOR_NS) {
      this.#lastScanNs = now;
      work += this.#scan();
    }
    return work + this.counters.notices - noticesBefore;
  }

  /** Returns true when the connector queue is empty (or absent). */
  #drainConnector(): boolean {
    if (this.#connector === null) return true;
    const result = this.#connector.drain(this.#onNotice, MAX_NOTICES_PER_WAKE);
    if (result === 'overflow') {
      this.counters.overflows++;
      this.#dropLostRaces();
      this.#expireReaped(Infinity);
      const found = this.#scan();
      this.#hooks.overflow(found);
      return this.#connector.drain(this.#onNotice, MAX_NOTICES_PER_WAKE) === 'drained';
    }
    return result === 'drained';
  }

  #notice(n: ProcNotice): void {
    this.counters.notices++;
    switch (n.what) {
      case PROC_EVENT_FORK:
        if (n.childPid === n.childTgid) this.#fork(n);
        break;
      case PROC_EVENT_EXEC:
        if (n.pid === n.tgid) this.#exec(n.tgid, n.timestampNs);
        break;
      case PROC_EVENT_UID:
        if (n.pid === n.tgid) this.#refreshCreds(this.table.byPid(n.tgid));
        break;
      case PROC_EVENT_EXIT:
        if (n.pid === n.tgid) this.#exitNotice(n);
        break;
      default:
        break;
    }
  }

  #fork(n: ProcNotice): void {
    this.counters.forks++;
    const pid = n.childTgid;
    // The race with the child's reap is won or lost here: the pidfd is opened before anything
    // else is done for the notice.
    const fd = pidfdOpenQuiet(pid);
    const existing = this.table.byPid(pid);
    // The start-up scan may have found this process before its fork notice was read.
    if (
      existing !== undefined &&
      Math.abs(existing.startMonoNs - n.timestampNs) < START_TOLERANCE_NS
    ) {
      if (fd >= 0) closeQuiet(fd);
      return;
    }
    const entry = new ProcEntry(
      pid,
      DISCOVERY_FORK,
      n.timestampNs,
      this.#clocks.monoToWallUs(n.timestampNs),
    );
    const parent = this.table.byPid(n.parentTgid);
    if (parent !== undefined) {
      entry.inheritFrom(parent);
      if (parent.memcg !== null) entry.memcg = this.#oom.retain(parent.memcg);
    } else {
      entry.ppid = n.parentTgid;
    }
    const verify = monoNowNs() - n.timestampNs > PID_REUSE_SAFE_NS;
    this.#open(entry, verify, fd);
    if (parent === undefined) this.#capture(entry);
    this.table.add(entry);
  }

  #exec(pid: number, timestampNs: number): void {
    this.counters.execs++;
    let entry = this.table.byPid(pid);
    if (entry === undefined) {
      entry = new ProcEntry(
        pid,
        DISCOVERY_EXEC,
        timestampNs,
        this.#clocks.monoToWallUs(timestampNs),
      );
      this.#open(entry, true);
      this.table.add(entry);
    }
    this.#capture(entry);
  }

  /**
   * Opens the pidfd while the process lives (PIDFD_INFO_EXIT is kept only for processes that
   * had one before their reap) and registers it for the hang-up only; EPOLLIN is requested
   * later, for zombies past the bound. `verify` checks /proc starttime against the entry's
   * start, for notices old enough that the pid might have been reused. `fd` is what
   * pidfd_open returned when the caller called it already.
   */
  #open(entry: ProcEntry, verify: boolean, fd = pidfdOpenQuiet(entry.pid)): void {
    if (fd < 0) {
      if (fd === -EMFILE || fd === -ENFILE) {
        // Out of descriptors: the connector's exit notice still reports this process.
        if (this.counters.fdLimit++ === 0) this.#log.warn({ errno: -fd }, 'pidfd limit reached');
        return;
      }
      if (fd !== -ESRCH) {
        throw new SyscallError(`pidfd_open(${entry.pid})`, -fd, errnoName(-fd));
      }
      this.counters.lostRaces++;
      return;
    }
    try {
      if (verify && !this.#sameStart(entry)) {
        close(fd);
        this.counters.lostRaces++;
        return;
      }
      entry.pidfd = fd;
      entry.pidfsIno = this.features.pidfsInodes ? pidfsInode(fd, this.#stat) : 0;
      epollCtl(this.#epfd, EPOLL_CTL_ADD, fd, 0, fd, this.#ctl);
    } catch (err) {
      close(fd);
      entry.pidfd = NO_FD;
      throw err;
    }
  }

  #sameStart(entry: ProcEntry): boolean {
    const stat = this.#proc.stat(entry.pid);
    if (stat === null) return false;
    const startNs = this.#clocks.ticksToMonoNs(stat.startTicks);
    return Math.abs(startNs - entry.startMonoNs) < START_TOLERANCE_NS;
  }

  /**
   * Live metadata at exec or discovery: comm, exe, argv (redacted here, before it is stored),
   * credentials and ppid, and the memory cgroup whose OOM counter decides FLAG_OOM_KILL.
   */
  #capture(entry: ProcEntry): void {
    const pid = entry.pid;
    // A process already reaped keeps what was known of it (its parent's metadata at fork). A
    // zombie still has its comm but no exe or argv: those are left empty rather than kept from
    // the parent, whose program it no longer ran.
    const comm = this.#proc.comm(pid);
    if (comm === null) return;
    entry.comm = comm;
    const argv = this.#proc.argv(pid);
    entry.exe = this.#proc.exe(pid) ?? '';
    entry.argv = argv === null ? NO_ARGV : this.#redactor.redact(argv.bytes);
    entry.argvTruncated = argv?.truncated ?? false;
    const cgroupText = this.#proc.cgroupFile(pid);
    const file = cgroupText === null ? null : this.#oom.counterFile(cgroupText);
    const memcg = file === null ? null : this.#oom.attach(file);
    if (entry.memcg !== null) this.#oom.release(entry.memcg);
    entry.memcg = memcg;
    this.#refreshCreds(entry);
  }

  #refreshCreds(entry: ProcEntry | undefined): void {
    if (entry === undefined || entry.pidfd === NO_FD || !this.features.pidfdGetInfo) return;
    const info = this.#info;
    info.fill(0);
    info.writeUInt32LE(PIDFD_INFO_CREDS, INFO_OFF_MASK);
    // A failure (ESRCH: the process is already gone) keeps what was known before.
    if (ioctlQuiet(entry.pidfd, PIDFD_GET_INFO, info) < 0) return;
    const mask = info.readUInt32LE(INFO_OFF_MASK);
    if ((mask & PIDFD_INFO_CREDS) === 0) return;
    const creds: Creds = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let i = 0; i < 8; i++) creds[i] = info.readUInt32LE(INFO_OFF_RUID + i * 4);
    entry.creds = creds;
    entry.ppid = info.readInt32LE(INFO_OFF_PPID);
  }

  #exitNotice(n: ProcNotice): void {
    const reaped = this.#reapedBeforeNotice.get(n.tgid);
    if (reaped !== undefined && reaped.startMonoNs <= n.timestampNs + START_TOLERANCE_NS) {
      this.#reapedBeforeNotice.delete(n.tgid);
      reaped.exitStatus = n.exitCode;
      reaped.exitMonoNs = n.timestampNs;
      this.#writeDeferred(reaped);
      return;
    }
    let entry = this.table.byPid(n.tgid);
    // A notice older than the entry belongs to an earlier process with the same pid.
    if (entry !== undefined && entry.startMonoNs > n.timestampNs + START_TOLERANCE_NS) {
      entry = undefined;
    }
    if (entry === undefined) {
      const orphan = new ProcEntry(n.tgid, DISCOVERY_EXIT_ONLY, 0, 0);
      orphan.ppid = n.parentTgid;
      orphan.exitStatus = n.exitCode;
      orphan.exitMonoNs = n.timestampNs;
      this.#emit(orphan, SOURCE_PROC_CONNECTOR, n.exitCode, null, 0, 0);
      return;
    }
    entry.exitStatus = n.exitCode;
    entry.exitMonoNs = n.timestampNs;
    if (entry.pidfd === NO_FD) {
      this.#emit(entry, SOURCE_PROC_CONNECTOR, n.exitCode, null, 0, 0);
      this.#forget(entry);
    } else {
      this.table.markExited(entry);
    }
  }

  /** EPOLLHUP: reaped. PIDFD_INFO_EXIT holds the wait status even when another reaped it. */
  #reaped(entry: ProcEntry): void {
    const info = this.#info;
    info.fill(0);
    info.writeUInt32LE(EXIT_INFO_REQUEST, INFO_OFF_MASK);
    const ret = ioctlQuiet(entry.pidfd, PIDFD_GET_INFO, info);
    // ESRCH, ENOTTY, EINVAL: no exit information from this kernel for this pidfd.
    if (ret < 0 && ret !== -ESRCH && ret !== -ENOTTY && ret !== -EINVAL) {
      throw new SyscallError(`ioctl(${entry.pidfd}, PIDFD_GET_INFO)`, -ret, errnoName(-ret));
    }
    const mask = ret < 0 ? 0 : info.readUInt32LE(INFO_OFF_MASK);
    const hasExit = (mask & PIDFD_INFO_EXIT) !== 0;
    if (this.features.pidfdInfoExit === null) {
      this.features.pidfdInfoExit = hasExit;
      if (!hasExit) {
        this.#hooks.degraded(
          'PIDFD_INFO_EXIT',
          '6.15',
          'exit status comes from the proc connector; exits reaped by other parents keep it',
        );
      }
    }
    const noticeRead = entry.exitStatus !== null;
    if (hasExit) {
      const coredumpMask =
        (mask & PIDFD_INFO_COREDUMP) !== 0 ? info.readUInt32LE(INFO_OFF_COREDUMP_MASK) : null;
      const cgroupId =
        (mask & PIDFD_INFO_CGROUPID) !== 0
          ? info.readUInt32LE(INFO_OFF_CGROUPID + 4) * 4294967296 +
            info.readUInt32LE(INFO_OFF_CGROUPID)
          : 0;
      const status = info.readInt32LE(INFO_OFF_EXIT_CODE);
      this.#emit(entry, SOURCE_PIDFD, status, coredumpMask, cgroupId, 0);
      entry.written = true;
    } else if (noticeRead) {
      this.#emit(entry, SOURCE_PROC_CONNECTOR, entry.exitStatus, null, 0, 0);
      entry.written = true;
    }
    if (noticeRead) {
      this.#forget(entry);
      return;
    }
    // Reaped before its exit notice: the notice is still to come. Without PIDFD_INFO_EXIT the
    // record waits for it (it holds the status); either way the notice must not count again.
    this.counters.reapedBeforeNotice++;
    this.#closePidfd(entry);
    entry.exitMonoNs = monoNowNs();
    if (this.#reapedBeforeNotice.size >= MAX_REAPED_BEFORE_NOTICE) {
      const [oldestPid, oldest] = this.#reapedBeforeNotice.entries().next().value as [
        number,
        ProcEntry,
      ];
      this.#reapedBeforeNotice.delete(oldestPid);
      this.#writeDeferred(oldest);
    }
    this.#reapedBeforeNotice.set(entry.pid, entry);
  }

  /** The exit notice of a process reaped before it arrived: its record, if not yet written. */
  #writeDeferred(entry: ProcEntry): void {
    if (!entry.written) {
      this.#emit(entry, SOURCE_PROC_CONNECTOR, entry.exitStatus, null, 0, 0);
      entry.written = true;
    }
    this.#releaseMemcg(entry);
  }

  /**
   * Processes reaped longer than EXIT_NOTICE_WAIT_NS ago (all of them for `now` = Infinity,
   * after an overflow lost their notices) stop waiting; one whose record waited for the notice
   * is written with what is known.
   */
  #expireReaped(now: number): void {
    for (const [pid, entry] of this.#reapedBeforeNotice) {
      if (now - entry.exitMonoNs < EXIT_NOTICE_WAIT_NS) break;
      this.#reapedBeforeNotice.delete(pid);
      this.#writeDeferred(entry);
    }
  }

  /** EPOLLIN on an armed entry: a zombie past the bound. */
  #unreaped(entry: ProcEntry): void {
    this.counters.zombies++;
    this.#emit(entry, SOURCE_ZOMBIE_TIMEOUT, entry.exitStatus, null, 0, FLAG_UNREAPED);
    this.#forget(entry);
  }

  /**
   * Arms EPOLLIN on exited processes still unreaped after the bound: EPOLLIN then fires only
   * when the whole thread group has exited, so a leader that exited before its threads is not
   * mistaken for a zombie. Exits are kept in notice order, so the walk stops at the first
   * entry still inside the bound.
   */
  #sweepZombies(now: number): void {
    for (const entry of this.table.exited) {
      if (now - entry.exitMonoNs < this.#zombieTimeoutNs) break;
      if (entry.zombieArmed) continue;
      entry.zombieArmed = true;
      epollCtl(this.#epfd, EPOLL_CTL_MOD, entry.pidfd, EPOLLIN, entry.pidfd, this.#ctl);
    }
  }

  #forget(entry: ProcEntry): void {
    this.#closePidfd(entry);
    this.#releaseMemcg(entry);
  }

  /** Out of the table; closing the pidfd also takes it out of the epoll set. */
  #closePidfd(entry: ProcEntry): void {
    this.table.remove(entry);
    if (entry.pidfd !== NO_FD) closeQuiet(entry.pidfd);
    entry.pidfd = NO_FD;
  }

  #releaseMemcg(entry: ProcEntry): void {
    if (entry.memcg !== null) this.#oom.release(entry.memcg);
    entry.memcg = null;
  }

  /** Entries whose pidfd_open lost the race wait for their exit notice; after an overflow it may be gone. */
  #dropLostRaces(): void {
    for (const entry of [...this.table.entries()]) {
      if (entry.pidfd === NO_FD) this.#forget(entry);
    }
  }

  #scan(): number {
    return scanProc(this.table, {
      open: (entry) => this.#open(entry, false),
      capture: (entry) => this.#capture(entry),
      proc: this.#proc,
      clocks: this.#clocks,
    });
  }

  #emit(
    entry: ProcEntry,
    source: number,
    status: number | null,
    coredumpMask: number | null,
    cgroupId: number,
    extraFlags: number,
  ): void {
    this.#hooks.beforeExit();
    let flags = extraFlags;
    if (status !== null) flags |= FLAG_WAIT_STATUS;
    if (entry.creds !== null) flags |= FLAG_CREDS;
    if (entry.argvTruncated) flags |= FLAG_ARGV_TRUNCATED;
    if (entry.pidfsIno !== 0) flags |= FLAG_PIDFS_INO;
    if (entry.startWallUs !== 0) flags |= FLAG_START_TIME;
    if (coredumpMask !== null) flags |= FLAG_COREDUMP_MASK;
    if (cgroupId !== 0) flags |= FLAG_CGROUP_ID;
    if (entry.ppid >= 0) flags |= FLAG_PPID;
    if (entry.coredumpSeq >= 0) flags |= FLAG_COREDUMP_SEQ;
    if (
      status !== null &&
      (status & SIGNAL_MASK) === SIGKILL &&
      entry.memcg !== null &&
      this.#oom.takeOomKill(entry.memcg)
    ) {
      flags |= FLAG_OOM_KILL;
    }
    const r = this.#record;
    r.source = source;
    r.discovery = entry.discovery;
    r.flags = flags;
    r.pid = entry.pid;
    r.ppid = entry.ppid;
    r.waitStatus = status ?? 0;
    r.coredumpMask = coredumpMask ?? 0;
    r.creds = entry.creds ?? NO_CREDS;
    r.pidfsIno = entry.pidfsIno;
    r.cgroupId = cgroupId;
    r.startTimeUs = entry.startWallUs;
    // The schema's `time`: when the exit was observed. For the connector that is its notice;
    // for a reap or the end of a zombie wait, now.
    r.exitTimeUs =
      source === SOURCE_PROC_CONNECTOR && entry.exitMonoNs !== 0
        ? this.#clocks.monoToWallUs(entry.exitMonoNs)
        : this.#clocks.nowWallUs();
    r.coredumpSeq = entry.coredumpSeq >= 0 ? entry.coredumpSeq : 0;
    r.comm = entry.comm;
    r.exe = entry.exe;
    r.argv = entry.argv;
    this.#hooks.exit(r);
  }
}

/** asm-generic/errno-base.h */
const ESRCH = 3;
const ENFILE = 23;
const EMFILE = 24;
const EINVAL = 22;
const ENOTTY = 25;

const NO_ARGV = new Uint8Array(0);

const NO_CREDS: Creds = [0, 0, 0, 0, 0, 0, 0, 0];

/** pidfs (Linux 6.9) gives each process its own inode; before it every pidfd shared one. */
function probePidfsInodes(): boolean {
  const self = pidfdOpen(process.pid, 0);
  try {
    const parent = pidfdOpen(process.ppid > 0 ? process.ppid : 1, 0);
    try {
      return pidfsInode(self) !== pidfsInode(parent);
    } finally {
      close(parent);
    }
  } finally {
    close(self);
  }
}

function probePidfdGetInfo(buf: Buffer): boolean {
  const self = pidfdOpen(process.pid, 0);
  try {
    pidfdGetInfoRaw(self, PIDFD_INFO_CREDS, buf);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOTTY') || isErrno(err, 'EINVAL')) return false;
    throw err;
  } finally {
    close(self);
  }
}
