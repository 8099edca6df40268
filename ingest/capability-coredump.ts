/**
 * The coredump socket probe: whether this kernel hands a crash to an AF_UNIX socket named in
 * core_pattern (`@path`, Linux 6.16) and speaks the request/ack protocol first (`@@path`,
 * Linux 6.17). It binds a socket of its own, points core_pattern at it, crashes a child, and
 * answers the kernel with COREDUMP_REJECT so no core is written; core_pattern is restored in
 * every outcome.
 *
 * core_pattern is global to the machine: for the few milliseconds of the probe a crash of any
 * other process also reaches the probe's socket and is rejected. The probe never runs when a
 * socket server already owns core_pattern (see capabilities.ts).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  COREDUMP_MARK_SIZE,
  COREDUMP_REJECT,
  COREDUMP_REQ_SIZE_VER0,
  decodeCoredumpReq,
  encodeCoredumpAck,
} from '../native/coredump.js';
import {
  accept,
  AF_UNIX,
  bind,
  close,
  getsockoptInt,
  listen,
  recv,
  send,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  socket,
  SOL_SOCKET,
  SO_PEERPIDFD,
} from '../native/libc.js';
import { sockaddrUn } from '../native/unix-socket.js';

const CORE_PATTERN = '/proc/sys/kernel/core_pattern';
/** How long the probe waits for the kernel's connection and each of its messages. */
const PROBE_WAIT_MS = 5_000;
const POLL_MS = 5;

export interface CoreSocketProbe {
  /** The kernel accepted the pattern and connected when the child crashed. */
  connected: boolean;
  /** The kernel sent a coredump_req and took the REJECT ack (mark 0); `@@` only. */
  acked: boolean;
  /** SO_PEERPIDFD on the connection named the crashing child. */
  peerPidfd: boolean;
  /** Why the probe failed, when it did. */
  detail: string;
}

/** The pid a pidfd refers to, from its fdinfo (`Pid:` line, Linux 5.3). */
export function pidOfPidfd(pidfd: number): number {
  const fdinfo = readFileSync(`/proc/self/fdinfo/${pidfd}`, 'utf8');
  return Number(/^Pid:\s*(-?\d+)/m.exec(fdinfo)?.[1] ?? -1);
}

async function waitFor<T>(attempt: () => T | null, what: string): Promise<T> {
  const deadline = Date.now() + PROBE_WAIT_MS;
  for (;;) {
    const got = attempt();
    if (got !== null) return got;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${PROBE_WAIT_MS} ms`);
    await sleep(POLL_MS);
  }
}

/** Receives exactly `len` bytes from a non-blocking socket. */
async function receive(fd: number, len: number, what: string): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let have = 0;
  await waitFor(() => {
    const n = recv(fd, buf.subarray(have), len - have);
    if (n === 0) throw new Error(`connection closed before the ${what}`);
    if (n > 0) have += n;
    return have === len ? true : null;
  }, what);
  return buf;
}

function crashChild(): { pid: number; exited: Promise<void> } {
  // The shell raises its soft core limit where it may: file-based core_patterns honour it, and
  // the probe must not depend on whether the socket forms do.
  const child = spawn('/bin/sh', ['-c', 'ulimit -c unlimited 2>/dev/null; kill -SEGV $$'], {
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { pid: child.pid ?? -1, exited };
}

async function serveOne(
  listenFd: number,
  form: '@' | '@@',
  childPid: number,
): Promise<CoreSocketProbe> {
  const conn = await waitFor(() => {
    const fd = accept(listenFd, SOCK_NONBLOCK);
    return fd < 0 ? null : fd;
  }, 'coredump connection');
  try {
    const pidfd = getsockoptInt(conn, SOL_SOCKET, SO_PEERPIDFD, 'SO_PEERPIDFD');
    const peerPidfd = pidOfPidfd(pidfd) === childPid;
    close(pidfd);
    if (form === '@') return { connected: true, acked: false, peerPidfd, detail: '' };

    const head = await receive(conn, COREDUMP_REQ_SIZE_VER0, 'coredump_req');
    const req = decodeCoredumpReq(head);
    if (req.size > COREDUMP_REQ_SIZE_VER0) await receive(conn, req.size - head.length, 'req tail');
    send(conn, encodeCoredumpAck(req, COREDUMP_REJECT, false));
    const mark = (await receive(conn, COREDUMP_MARK_SIZE, 'coredump mark')).readUInt32LE(0);
    const detail = mark === 0 ? '' : `the kernel answered the ack with mark ${mark}`;
    return { connected: true, acked: mark === 0, peerPidfd, detail };
  } finally {
    close(conn);
  }
}

/** Probes one socket form; see the module comment for what it changes while it runs. */
export async function probeCoreSocket(form: '@' | '@@'): Promise<CoreSocketProbe> {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-doctor-'));
  const path = join(dir, 'core.sock');
  const listenFd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  const original = readFileSync(CORE_PATTERN, 'utf8').replace(/\n$/, '');
  try {
    bind(listenFd, sockaddrUn(path), path);
    listen(listenFd, 8);
    try {
      writeFileSync(CORE_PATTERN, `${form}${path}`);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      const detail = `the kernel refused core_pattern ${form}PATH (${code})`;
      return { connected: false, acked: false, peerPidfd: false, detail };
    }
    const child = crashChild();
    try {
      return await serveOne(listenFd, form, child.pid);
    } catch (err) {
      const detail = err instanceof Error ? err.message : String(err);
      return { connected: false, acked: false, peerPidfd: false, detail };
    } finally {
      writeFileSync(CORE_PATTERN, original);
      await child.exited;
    }
  } finally {
    if (readFileSync(CORE_PATTERN, 'utf8').replace(/\n$/, '') !== original) {
      writeFileSync(CORE_PATTERN, original);
    }
    close(listenFd);
    rmSync(dir, { recursive: true, force: true });
  }
}
