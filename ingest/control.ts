/**
 * The agent's local API: a Unix stream socket (default /run/pidstream/control.sock) that
 * answers each connection with one JSON document of live counters, then closes.
 *
 * The socket file is world-connectable (0666) on purpose: the kernel tells the agent who
 * connected, and the agent decides. Each peer is identified with SO_PEERPIDFD (Linux 6.5), a
 * pidfd that cannot be confused with a later process reusing the pid, and its credentials come
 * from PIDFD_GET_INFO (Linux 6.13). Root (euid 0) is answered; so is a member of the configured
 * group (effective gid, or a supplementary group read from /proc while the pidfd shows the
 * process still alive). Everyone else gets a refusal naming why, and the refusal is logged.
 *
 * Accepting uses a blocking epoll_wait on one of koffi's threads (the Node loop never waits);
 * each accepted connection is then handed to a Node socket for the reply.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { Socket } from 'node:net';
import { dirname } from 'node:path';

import { ConfigError, isErrno, PidstreamError } from '../common/errors.js';
import { type Logger, LogThrottle } from '../common/log.js';
import {
  accept,
  AF_UNIX,
  close,
  connect,
  epollCreate,
  epollCtl,
  EPOLL_CTL_ADD,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
  epollWaitAsync,
  eventfd,
  getsockoptInt,
  pidfdSendSignal,
  SOCK_CLOEXEC,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SO_PEERPIDFD,
  write,
} from '../native/libc.js';
import { pidfdGetInfo, PIDFD_INFO_CREDS, PIDFD_INFO_PID } from '../native/pidfd.js';
import { listenUnix, sockaddrUn } from '../native/unix-socket.js';
import type { AgentStats } from './stats.js';

/** A refused user is logged once per this window; repeats are counted on its next line. */
const REFUSAL_LOG_WINDOW_MS = 60_000;
/** Connections waiting to be accepted; status callers are few. */
const LISTEN_BACKLOG = 16;
/** Connections accepted per wake, so a flood cannot hold the event loop. */
const MAX_ACCEPT_PER_WAKE = 64;
const ID_LISTENER = 0;
const ID_WAKE = 1;

export interface ControlServerOptions {
  socketPath: string;
  /** Group whose members are answered besides root: a name, a gid, or "" for root only. */
  group: string;
  /** The reply to an allowed peer, built at the time of the request. */
  snapshot(): unknown;
  log: Logger;
}

export interface Peer {
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
}

/** The gid of `group` (a name or a number) from /etc/group; null for "". */
export function resolveGroup(group: string, etcGroup = '/etc/group'): number | null {
  if (group === '') return null;
  if (/^\d+$/.test(group)) return Number(group);
  for (const line of readFileSync(etcGroup, 'utf8').split('\n')) {
    const [name, , gid] = line.split(':');
    if (name === group && gid !== undefined) return Number(gid);
  }
  throw new ConfigError(`config: control.group = "${group}": no such group in ${etcGroup}`);
}

/** SO_PEERPIDFD, then PIDFD_GET_INFO credentials and the supplementary groups. */
export function identifyPeer(fd: number): Peer {
  const pidfd = getsockoptInt(fd, SOL_SOCKET, SO_PEERPIDFD, 'SO_PEERPIDFD');
  try {
    const info = pidfdGetInfo(pidfd, PIDFD_INFO_PID | PIDFD_INFO_CREDS);
    const status = readFileSync(`/proc/${info.tgid}/status`, 'utf8');
    // Signal 0 through the pidfd: the process still lives, so /proc/PID was not a newcomer's.
    pidfdSendSignal(pidfd, 0);
    const groups = (/^Groups:[ \t]*(.*)$/m.exec(status)?.[1] ?? '')
      .split(/\s+/)
      .filter((g) => g !== '')
      .map(Number);
    return { pid: info.tgid, uid: info.euid, gid: info.egid, groups };
  } finally {
    close(pidfd);
  }
}

/** Whether something accepts connections at `path` now (a blocking AF_UNIX connect is immediate). */
function socketAnswers(path: string): boolean {
  const fd = socket(AF_UNIX, SOCK_STREAM, 0);
  try {
    connect(fd, sockaddrUn(path), path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ECONNREFUSED') || isErrno(err, 'ENOENT')) return false;
    throw err;
  } finally {
    close(fd);
  }
}

/** Null when `peer` may read the status, else the reason it may not. */
export function refusalReason(peer: Peer, gid: number | null): string | null {
  if (peer.uid === 0) return null;
  if (gid !== null && (peer.gid === gid || peer.groups.includes(gid))) return null;
  const allowed = gid === null ? 'root only' : `root or group ${gid}`;
  return `uid ${peer.uid} (gid ${peer.gid}) is not allowed: the status socket answers ${allowed}`;
}

export class ControlServer {
  readonly #o: ControlServerOptions;
  readonly #gid: number | null;
  readonly #events = Buffer.alloc(4 * EPOLL_EVENT_SIZE);
  readonly #scratch = Buffer.alloc(EPOLL_EVENT_SIZE);
  #listenFd = -1;
  #epfd = -1;
  #wakeFd = -1;
  #loopDone: Promise<void> | null = null;
  readonly #refusals = new LogThrottle(REFUSAL_LOG_WINDOW_MS);
  /** Peers answered and refused since start, for the status itself and the tests. */
  readonly counts = { answered: 0, refused: 0 };

  constructor(options: ControlServerOptions) {
    this.#o = options;
    this.#gid = resolveGroup(options.group);
  }

  /**
   * Binds the socket and starts answering. A socket file left by an agent that died is
   * replaced; one a live agent still answers on is not: that is a PidstreamError.
   */
  start(): void {
    const path = this.#o.socketPath;
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    if (socketAnswers(path)) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_CONTROL',
        `status socket ${path}: another agent answers on it; set control.socket to another path`,
      );
    }
    rmSync(path, { force: true });
    this.#listenFd = listenUnix(path, LISTEN_BACKLOG);
    chmodSync(path, 0o666);
    this.#epfd = epollCreate();
    this.#wakeFd = eventfd();
    epollCtl(this.#epfd, EPOLL_CTL_ADD, this.#listenFd, EPOLLIN, ID_LISTENER, this.#scratch);
    epollCtl(this.#epfd, EPOLL_CTL_ADD, this.#wakeFd, EPOLLIN, ID_WAKE, this.#scratch);
    this.#loopDone = new Promise((resolve) => this.#poll(resolve));
    this.#o.log.info({ socket: path, group: this.#o.group || null }, 'status socket listening');
  }

  async stop(): Promise<void> {
    if (this.#listenFd < 0) return;
    write(this.#wakeFd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    await this.#loopDone;
    close(this.#listenFd);
    close(this.#wakeFd);
    close(this.#epfd);
    this.#listenFd = -1;
    rmSync(this.#o.socketPath, { force: true });
  }

  #poll(done: () => void): void {
    epollWaitAsync(this.#epfd, this.#events, -1, (err, count) => {
      if (err !== null) {
        this.#o.log.error({ err }, 'status socket stopped: epoll_wait failed');
        return done();
      }
      for (let i = 0; i < count; i++) {
        const id = this.#events.readUInt32LE(i * EPOLL_EVENT_SIZE + 4);
        if (id === ID_WAKE) return done();
        this.#acceptSome();
      }
      this.#poll(done);
    });
  }

  #acceptSome(): void {
    for (let i = 0; i < MAX_ACCEPT_PER_WAKE; i++) {
      const fd = accept(this.#listenFd, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (fd < 0) return;
      this.#answer(fd);
    }
  }

  #answer(fd: number): void {
    let reply: unknown;
    try {
      const peer = identifyPeer(fd);
      const reason = refusalReason(peer, this.#gid);
      if (reason === null) {
        this.counts.answered++;
        this.#o.log.debug({ peer }, 'status peer answered');
        reply = this.#o.snapshot();
      } else {
        this.counts.refused++;
        const heldBack = this.#refusals.take(`uid ${peer.uid}`);
        if (heldBack !== null) {
          this.#o.log.warn({ peer, heldBack }, `status peer refused: ${reason}`);
        }
        reply = { error: reason };
      }
    } catch (err) {
      this.counts.refused++;
      this.#o.log.warn({ err }, 'status peer refused: it could not be identified');
      reply = { error: `the peer could not be identified: ${(err as Error).message}` };
    }
    const socket = new Socket({ fd, readable: false, writable: true });
    socket.on('error', (err) => this.#o.log.debug({ err }, 'status peer went away'));
    socket.end(`${JSON.stringify(reply)}\n`);
  }
}

/** What an allowed peer receives. */
export interface StatusSnapshot {
  version: string;
  pid: number;
  instanceId: string;
  /** ISO 8601 time the agent started. */
  startedAt: string;
  uptimeSeconds: number;
  stats: AgentStats;
  /** Crashes seen by the coredump server, by verdict; absent when crash capture is off. */
  coredumps?: Record<string, number>;
  /** The metrics endpoint, or null when it is off. */
  metricsUrl: string | null;
}

export interface SnapshotSource {
  version: string;
  instanceId: string;
  startedAtMs: number;
  stats: AgentStats;
  coredumps?: Record<string, number> | undefined;
  metricsUrl: string | null;
}

export function buildSnapshot(s: SnapshotSource, nowMs = Date.now()): StatusSnapshot {
  return {
    version: s.version,
    pid: process.pid,
    instanceId: s.instanceId,
    startedAt: new Date(s.startedAtMs).toISOString(),
    uptimeSeconds: Math.round((nowMs - s.startedAtMs) / 1000),
    stats: s.stats,
    ...(s.coredumps === undefined ? {} : { coredumps: s.coredumps }),
    metricsUrl: s.metricsUrl,
  };
}
