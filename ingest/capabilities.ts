/**
 * What this host's kernel and privileges let pidstream do, found by using each feature on a
 * short-lived child rather than by reading the version string: a kernel may carry backports,
 * and a container may lack a privilege its kernel would otherwise grant. `pidstream doctor`
 * prints the result; startup-plan.ts turns it into what `pidstream run` will do.
 *
 * `PIDSTREAM_DOCTOR_HIDE` is a test switch: a comma-separated list of capability ids that are
 * reported missing without being probed, so the degraded plans can be exercised on a kernel
 * that has everything. It is never meant for production use.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { release } from 'node:os';

import {
  close,
  epollCreate,
  epollCtl,
  epollWait,
  EPOLL_CTL_ADD,
  EPOLL_EVENT_SIZE,
  EPOLLHUP,
  EPOLLIN,
  getsockoptInt,
  socket,
  AF_UNIX,
  SOCK_STREAM,
  SOCK_NONBLOCK,
  bind,
  listen,
  connect,
  accept,
  SOL_SOCKET,
  SO_PEERPIDFD,
  syscall4,
} from '../native/libc.js';
import { ProcConnector, PROC_EVENT_EXIT } from '../native/netlink.js';
import { statmount, SYS_LISTMOUNT } from '../native/mount.js';
import {
  pidfdGetInfo,
  pidfdOpen,
  pidfsInode,
  PIDFD_INFO_CGROUPID,
  PIDFD_INFO_COREDUMP,
  PIDFD_INFO_CREDS,
  PIDFD_INFO_EXIT,
  PIDFD_INFO_PID,
} from '../native/pidfd.js';
import { SyscallError } from '../common/errors.js';
import { findCgroup2Mount } from '../workers/cgroup-index.js';
import { pidOfPidfd, probeCoreSocket } from './capability-coredump.js';

export const HIDE_ENV = 'PIDSTREAM_DOCTOR_HIDE';

export const CAPABILITIES = [
  { id: 'pidfd_open', name: 'pidfd_open', since: '5.3' },
  { id: 'pidfs_inode', name: 'pidfs inodes', since: '6.9' },
  { id: 'epoll_hup', name: 'EPOLLHUP on reap', since: '6.9' },
  { id: 'pidfd_get_info', name: 'PIDFD_GET_INFO', since: '6.13' },
  { id: 'pidfd_info_exit', name: 'PIDFD_INFO_EXIT', since: '6.15' },
  { id: 'pidfd_info_coredump', name: 'PIDFD_INFO_COREDUMP', since: '6.16' },
  { id: 'coredump_socket', name: 'core_pattern @socket', since: '6.16' },
  { id: 'coredump_socket_ack', name: 'core_pattern @@socket', since: '6.17' },
  { id: 'so_peerpidfd', name: 'SO_PEERPIDFD', since: '6.5' },
  { id: 'proc_connector', name: 'proc connector', since: '2.6.15' },
  { id: 'listmount', name: 'listmount/statmount', since: '6.8' },
  { id: 'cgroup2', name: 'cgroup2 mount', since: '4.5' },
] as const;

export type CapabilityId = (typeof CAPABILITIES)[number]['id'];

/** `ok`: probed and works. `missing`: probed and absent, or hidden. `unknown`: not probed. */
export type Verdict = 'ok' | 'missing' | 'unknown';

export interface Capability {
  id: CapabilityId;
  name: string;
  /** The kernel version that brought the feature. */
  since: string;
  verdict: Verdict;
  /** One sentence on what was seen; fixed text for `ok`, so output compares across hosts. */
  detail: string;
}

/** Capabilities the agent needs, by number: include/uapi/linux/capability.h. */
export const NEEDED_CAPS = {
  CAP_NET_ADMIN: 12,
  CAP_SYS_PTRACE: 19,
  CAP_SYS_ADMIN: 21,
} as const;

export interface Privileges {
  uid: number;
  /** The needed capabilities present in the effective set. */
  held: string[];
  /** The needed capabilities absent from it. */
  lacking: string[];
}

export type CorePatternOwner =
  | 'pidstream'
  | 'systemd-coredump'
  | 'apport'
  | 'another socket server'
  | 'another pipe helper'
  | 'a file';

export interface CorePatternFacts {
  pattern: string;
  owner: CorePatternOwner;
  /** /proc/sys/kernel/core_modes, where the kernel has it; null otherwise. */
  modes: string[] | null;
}

export interface CapabilityReport {
  kernel: string;
  capabilities: Capability[];
  privileges: Privileges;
  corePattern: CorePatternFacts;
  cgroup2Mount: string | null;
}

export interface ProbeOptions {
  /** Ids reported missing without probing (the PIDSTREAM_DOCTOR_HIDE test switch). */
  hide?: ReadonlySet<string>;
  /** Whether the coredump socket forms may be probed by changing core_pattern briefly. */
  coreProbe?: boolean;
  /** The agent's coredump socket, to recognise core_pattern as pidstream's own. */
  coreSocket?: string;
}

/** Parses the test switch; unknown ids are returned so the caller can refuse them. */
export function parseHidden(value: string | undefined): { hide: Set<string>; unknown: string[] } {
  const hide = new Set(
    (value ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
  );
  const known = new Set<string>(CAPABILITIES.map((c) => c.id));
  return { hide, unknown: [...hide].filter((id) => !known.has(id)) };
}

function describe(err: unknown): string {
  if (err instanceof SyscallError) return `${err.call}: ${err.errnoName}`;
  return err instanceof Error ? err.message : String(err);
}

/** A child that lives until it is killed; probes hold it, then kill and reap it. */
function sleeper(): { pid: number; kill: () => Promise<void> } {
  const child = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid: child.pid ?? -1,
    // Node reaps the child before 'exit' is emitted, so afterwards the pidfd's process is gone.
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

type Results = Map<CapabilityId, { verdict: Verdict; detail: string }>;

const SIGKILL_WAIT_STATUS = 9;

/** pidfd_open, pidfs inodes, EPOLLHUP after reap, PIDFD_GET_INFO and its EXIT/COREDUMP bits. */
async function probePidfds(results: Results, hidden: (id: CapabilityId) => boolean): Promise<void> {
  const set = (id: CapabilityId, verdict: Verdict, detail: string): void => {
    if (!results.has(id)) results.set(id, { verdict, detail });
  };
  if (hidden('pidfd_open')) return;
  const a = sleeper();
  const b = sleeper();
  let fdA = -1;
  let fdB = -1;
  try {
    try {
      fdA = pidfdOpen(a.pid);
      fdB = pidfdOpen(b.pid);
      set('pidfd_open', 'ok', 'opened a pidfd on a live child');
    } catch (err) {
      set('pidfd_open', 'missing', describe(err));
      return;
    }
    if (!hidden('pidfs_inode')) {
      const inoA = pidfsInode(fdA);
      const inoB = pidfsInode(fdB);
      if (inoA !== inoB) set('pidfs_inode', 'ok', 'two processes have distinct pidfd inodes');
      else set('pidfs_inode', 'missing', `both pidfds share inode ${inoA} (anon inode)`);
    }
    if (!hidden('pidfd_get_info')) {
      try {
        const info = pidfdGetInfo(fdA, PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID);
        if ((info.mask & PIDFD_INFO_PID) !== 0 && info.pid === a.pid) {
          set('pidfd_get_info', 'ok', 'pid, credentials and cgroup id of a live child');
        } else {
          set('pidfd_get_info', 'missing', `returned pid ${info.pid}, mask ${info.mask}`);
        }
      } catch (err) {
        set('pidfd_get_info', 'missing', describe(err));
      }
    }

    await a.kill();
    if (!hidden('epoll_hup')) set(...epollAfterReap(fdA));
    const infoOk = results.get('pidfd_get_info')?.verdict === 'ok';
    if (!hidden('pidfd_info_exit') && infoOk) set(...exitInfo(fdA));
    if (!hidden('pidfd_info_coredump') && infoOk) set(...coredumpInfo(fdA));
  } finally {
    if (fdA >= 0) close(fdA);
    if (fdB >= 0) close(fdB);
    await a.kill();
    await b.kill();
  }
}

function epollAfterReap(pidfd: number): [CapabilityId, Verdict, string] {
  const epfd = epollCreate();
  try {
    epollCtl(epfd, EPOLL_CTL_ADD, pidfd, EPOLLIN, 0, Buffer.alloc(EPOLL_EVENT_SIZE));
    const events = Buffer.alloc(EPOLL_EVENT_SIZE);
    const n = epollWait(epfd, events, 0);
    const mask = n > 0 ? events.readUInt32LE(0) : 0;
    return (mask & EPOLLHUP) !== 0
      ? ['epoll_hup', 'ok', 'EPOLLHUP on the pidfd of a reaped child']
      : ['epoll_hup', 'missing', `epoll reported ${mask} for a reaped child, without EPOLLHUP`];
  } finally {
    close(epfd);
  }
}

function exitInfo(pidfd: number): [CapabilityId, Verdict, string] {
  try {
    const info = pidfdGetInfo(pidfd, PIDFD_INFO_EXIT);
    if ((info.mask & PIDFD_INFO_EXIT) !== 0 && info.exit_code === SIGKILL_WAIT_STATUS) {
      return ['pidfd_info_exit', 'ok', 'wait status of a reaped child (SIGKILL)'];
    }
    return ['pidfd_info_exit', 'missing', `mask ${info.mask}, exit_code ${info.exit_code}`];
  } catch (err) {
    return ['pidfd_info_exit', 'missing', describe(err)];
  }
}

function coredumpInfo(pidfd: number): [CapabilityId, Verdict, string] {
  try {
    // A reaped process answers only requests that include PIDFD_INFO_EXIT (ESRCH otherwise).
    const info = pidfdGetInfo(pidfd, PIDFD_INFO_EXIT | PIDFD_INFO_COREDUMP);
    return (info.mask & PIDFD_INFO_COREDUMP) !== 0
      ? ['pidfd_info_coredump', 'ok', 'coredump_mask of a reaped child']
      : [
          'pidfd_info_coredump',
          'missing',
          `the kernel left PIDFD_INFO_COREDUMP out of ${info.mask}`,
        ];
  } catch (err) {
    return ['pidfd_info_coredump', 'missing', describe(err)];
  }
}

/** A connection to a listening AF_UNIX socket in this process, and SO_PEERPIDFD on it. */
function probePeerPidfd(): [Verdict, string] {
  const name = `pidstream-doctor-${process.pid}`;
  // Abstract address: a leading NUL, nothing left on disk.
  const addr = Buffer.alloc(3 + name.length);
  addr.writeUInt16LE(AF_UNIX, 0);
  addr.write(name, 3);
  const server = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const client = socket(AF_UNIX, SOCK_STREAM, 0);
  let conn = -1;
  try {
    bind(server, addr, `@${name}`);
    listen(server, 1);
    connect(client, addr, `@${name}`);
    conn = accept(server);
    const pidfd = getsockoptInt(conn, SOL_SOCKET, SO_PEERPIDFD, 'SO_PEERPIDFD');
    const pid = pidOfPidfd(pidfd);
    close(pidfd);
    return pid === process.pid
      ? ['ok', 'a pidfd for the peer of a local connection']
      : ['missing', `the peer pidfd named pid ${pid}, not ${process.pid}`];
  } catch (err) {
    return ['missing', describe(err)];
  } finally {
    if (conn >= 0) close(conn);
    close(client);
    close(server);
  }
}

/** Subscribes to the proc connector and waits for the exit notice of a child it runs. */
async function probeConnector(): Promise<[Verdict, string]> {
  let connector: ProcConnector;
  try {
    connector = new ProcConnector(1024 * 1024);
  } catch (err) {
    return ['missing', describe(err)];
  }
  try {
    const child = spawn('/bin/true', [], { stdio: 'ignore' });
    const pid = child.pid ?? -1;
    let seen = false;
    const deadline = Date.now() + 5_000;
    while (!seen && Date.now() < deadline) {
      connector.drain((n) => {
        if (n.what === PROC_EVENT_EXIT && n.tgid === pid) seen = true;
      }, 100_000);
      if (!seen) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return seen
      ? ['ok', 'the exit notice of a child arrived']
      : ['missing', 'subscribed, but no exit notice of a child arrived within 5 s'];
  } finally {
    connector.close();
  }
}

/** `struct mnt_id_req` as first published (MNT_ID_REQ_SIZE_VER0), include/uapi/linux/mount.h. */
const MNT_ID_REQ_SIZE_VER0 = 24;
/** LSMT_ROOT: list from the root mount of the caller's namespace. */
const LSMT_ROOT = 0xffffffffffffffffn;

function probeListmount(): [Verdict, string] {
  try {
    const req = Buffer.alloc(MNT_ID_REQ_SIZE_VER0);
    req.writeUInt32LE(MNT_ID_REQ_SIZE_VER0, 0);
    req.writeBigUInt64LE(LSMT_ROOT, 8);
    const ids = Buffer.alloc(8 * 16);
    const n = syscall4(SYS_LISTMOUNT, 'listmount(LSMT_ROOT)', req, ids, 16, 0);
    if (n < 1) return ['missing', 'listmount returned no mounts'];
    const root = statmount(Number(ids.readBigUInt64LE(0)), 0);
    return root.fsType !== ''
      ? ['ok', 'listed the mounts and read one with statmount']
      : ['missing', 'statmount returned no file system type'];
  } catch (err) {
    return ['missing', describe(err)];
  }
}

function probeCgroup2(): [Verdict, string, string | null] {
  const mount = findCgroup2Mount();
  if (mount === null) return ['missing', 'no cgroup2 file system in /proc/self/mountinfo', null];
  const unified = readFileSync('/proc/self/cgroup', 'utf8')
    .split('\n')
    .some((l) => l.startsWith('0::'));
  return unified
    ? ['ok', 'mounted, and /proc/self/cgroup has its 0:: line', mount]
    : ['missing', `mounted at ${mount}, but /proc/self/cgroup has no 0:: line`, mount];
}

export function readPrivileges(status = readFileSync('/proc/self/status', 'utf8')): Privileges {
  const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(status)?.[1] ?? -1);
  const capEff = BigInt(`0x${/^CapEff:\s+([0-9a-f]+)/m.exec(status)?.[1] ?? '0'}`);
  const held: string[] = [];
  const lacking: string[] = [];
  for (const [name, bit] of Object.entries(NEEDED_CAPS)) {
    (((capEff >> BigInt(bit)) & 1n) === 1n ? held : lacking).push(name);
  }
  return { uid, held, lacking };
}

export function corePatternOwner(pattern: string, coreSocket?: string): CorePatternOwner {
  if (pattern.startsWith('@')) {
    const path = pattern.replace(/^@@?/, '');
    return path === coreSocket ? 'pidstream' : 'another socket server';
  }
  if (pattern.startsWith('|')) {
    if (pattern.includes('systemd-coredump')) return 'systemd-coredump';
    if (pattern.includes('apport')) return 'apport';
    return 'another pipe helper';
  }
  return 'a file';
}

function readCoreFacts(coreSocket?: string): CorePatternFacts {
  const pattern = readFileSync('/proc/sys/kernel/core_pattern', 'utf8').replace(/\n$/, '');
  let modes: string[] | null = null;
  try {
    modes = readFileSync('/proc/sys/kernel/core_modes', 'utf8')
      .split('\n')
      .filter((m) => m !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  return { pattern, owner: corePatternOwner(pattern, coreSocket), modes };
}

/**
 * The coredump socket forms. `@` comes from core_modes where the kernel has that file. `@@`
 * (which core_modes does not distinguish) is probed with a crash, unless a socket server owns
 * core_pattern already: then its `@@` pattern, accepted by the kernel, is the evidence.
 */
async function probeCoreSockets(
  results: Results,
  facts: CorePatternFacts,
  hidden: (id: CapabilityId) => boolean,
  allowProbe: boolean,
): Promise<void> {
  if (hidden('coredump_socket')) return;
  const fromModes = facts.modes?.includes('socket');
  const serverOwns = facts.pattern.startsWith('@');
  if (fromModes === false) {
    results.set('coredump_socket', {
      verdict: 'missing',
      detail: 'core_modes does not list socket',
    });
    return;
  }
  if (serverOwns) {
    results.set('coredump_socket', {
      verdict: 'ok',
      detail: 'core_pattern holds a socket form now',
    });
    if (!hidden('coredump_socket_ack')) {
      results.set(
        'coredump_socket_ack',
        facts.pattern.startsWith('@@')
          ? { verdict: 'ok', detail: 'core_pattern holds an @@ socket now' }
          : { verdict: 'unknown', detail: 'not probed: a socket server owns core_pattern' },
      );
    }
    return;
  }
  if (!allowProbe) {
    const detail = 'not probed (--no-core-probe)';
    results.set(
      'coredump_socket',
      fromModes === true
        ? { verdict: 'ok', detail: 'core_modes lists socket' }
        : { verdict: 'unknown', detail },
    );
    if (!hidden('coredump_socket_ack'))
      results.set('coredump_socket_ack', { verdict: 'unknown', detail });
    return;
  }
  if (fromModes === true) {
    results.set('coredump_socket', { verdict: 'ok', detail: 'core_modes lists socket' });
  } else {
    const plain = await probeCoreSocket('@');
    results.set(
      'coredump_socket',
      plain.connected
        ? { verdict: 'ok', detail: 'a crashing child connected to a probe socket' }
        : { verdict: 'missing', detail: plain.detail },
    );
    if (!plain.connected) return;
  }
  if (hidden('coredump_socket_ack')) return;
  const ack = await probeCoreSocket('@@');
  results.set(
    'coredump_socket_ack',
    ack.acked
      ? { verdict: 'ok', detail: 'a crashing child sent coredump_req and took a REJECT ack' }
      : { verdict: 'missing', detail: ack.detail },
  );
}

/** Probes every capability; see the module comment for the test switch. */
export async function probeCapabilities(options: ProbeOptions = {}): Promise<CapabilityReport> {
  const hide = options.hide ?? new Set<string>();
  const results: Results = new Map();
  const hidden = (id: CapabilityId): boolean => {
    if (!hide.has(id)) return false;
    results.set(id, { verdict: 'missing', detail: `hidden by ${HIDE_ENV} (test switch)` });
    return true;
  };

  await probePidfds(results, hidden);
  if (!hidden('so_peerpidfd')) {
    const [verdict, detail] = probePeerPidfd();
    results.set('so_peerpidfd', { verdict, detail });
  }
  if (!hidden('proc_connector')) {
    const [verdict, detail] = await probeConnector();
    results.set('proc_connector', { verdict, detail });
  }
  if (!hidden('listmount')) {
    const [verdict, detail] = probeListmount();
    results.set('listmount', { verdict, detail });
  }
  let cgroup2Mount: string | null = null;
  if (!hidden('cgroup2')) {
    const [verdict, detail, mount] = probeCgroup2();
    results.set('cgroup2', { verdict, detail });
    cgroup2Mount = mount;
  }
  const corePattern = readCoreFacts(options.coreSocket);
  await probeCoreSockets(results, corePattern, hidden, options.coreProbe ?? true);

  const capabilities = CAPABILITIES.map((c): Capability => {
    const prerequisite = PREREQUISITES[c.id];
    const got = results.get(c.id) ?? {
      verdict: 'missing' as const,
      detail: prerequisite === undefined ? 'not probed' : `needs ${nameOf(prerequisite)}`,
    };
    return { id: c.id, name: c.name, since: c.since, ...got };
  });
  return {
    kernel: release(),
    capabilities,
    privileges: readPrivileges(),
    corePattern,
    cgroup2Mount,
  };
}

/** A capability whose probe needs another one first. */
const PREREQUISITES: Partial<Record<CapabilityId, CapabilityId>> = {
  pidfs_inode: 'pidfd_open',
  epoll_hup: 'pidfd_open',
  pidfd_get_info: 'pidfd_open',
  pidfd_info_exit: 'pidfd_get_info',
  pidfd_info_coredump: 'pidfd_get_info',
  coredump_socket_ack: 'coredump_socket',
};

function nameOf(id: CapabilityId): string {
  return CAPABILITIES.find((c) => c.id === id)?.name ?? id;
}

export function has(report: CapabilityReport, id: CapabilityId): boolean {
  return report.capabilities.find((c) => c.id === id)?.verdict === 'ok';
}
