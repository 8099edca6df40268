/**
 * AF_UNIX stream listeners on a path, for the coredump socket. `struct sockaddr_un` from
 * include/uapi/linux/un.h: a u16 family followed by a 108-byte NUL-terminated path.
 */
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
