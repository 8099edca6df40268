/**
 * AF_UNIX stream listeners on a path, for the coredump socket. `struct sockaddr_un` from
 * include/uapi/linux/un.h: a u16 family followed by a 108-byte NUL-terminated path.
 */
import koffi from 'koffi';

import { AF_UNIX, bind, close, listen, socket, SOCK_NONBLOCK, SOCK_STREAM } from './libc.js';

const SUN_PATH_MAX = 108;

export function sockaddrUn(path: string): Buffer {
  const bytes = Buffer.from(path, 'utf8');
  if (bytes.length >= SUN_PATH_MAX) {
    throw new RangeError(
      `AF_UNIX path ${path}: ${bytes.length} bytes, at most ${SUN_PATH_MAX - 1}`,
    );
  }
  const addr = Buffer.alloc(2 + bytes.length + 1);
  addr.writeUInt16LE(AF_UNIX, 0);
  bytes.copy(addr, 2);
  return addr;
}

/** A non-blocking listening stream socket bound at `path` (which must not exist). */
export function listenUnix(path: string, backlog: number): number {
  const fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
  try {
    bind(fd, sockaddrUn(path), path);
    listen(fd, backlog);
    return fd;
  } catch (err) {
    close(fd);
    throw err;
  }
}

const lib = koffi.load('libc.so.6');
const recvCall = lib.func('long recv(int fd, void *buf, unsigned long len, int flags)');

/** recv(2) flag: block until `len` bytes arrived, the peer closed, or an error. */
export const MSG_WAITALL = 0x100;

/**
 * recv(2) on one of koffi's worker threads: for a blocking socket, so a large read can wait
 * there without holding the Node event loop. `buf` must not be touched until `done` runs.
 */
export function recvAsync(
  fd: number,
  buf: Buffer,
  len: number,
  flags: number,
  done: (err: Error | null, count: number) => void,
): void {
  recvCall.async(fd, buf, len, flags, (err: unknown, ret: number) => {
    if (err) return done(err instanceof Error ? err : new Error(String(err)), 0);
    if (ret < 0) return done(new Error(`recv(${fd}) failed on a worker thread`), 0);
    done(null, ret);
  });
}
