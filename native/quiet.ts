/**
 * Calls whose failure is an everyday outcome on the agent's per-process path, bound so that
 * they return `-errno` instead of throwing: a process that exits before the agent reaches it
 * makes pidfd_open fail with ESRCH and /proc reads fail with ENOENT thousands of times a
 * second under churn, and building an Error with its stack for each cost more than the call
 * (bench:exits). The calls every exit makes (the exit ioctl, close) are here too, so the
 * per-exit path builds nothing per call. Callers that want an exception use native/libc.ts.
 */
import koffi from 'koffi';

const lib = koffi.load('libc.so.6');

const c = {
  pidfdOpen: lib.func('int pidfd_open(int pid, unsigned int flags)'),
  open: lib.func('int open(const char *path, int flags, int mode)'),
  read: lib.func('long read(int fd, void *buf, unsigned long count)'),
  close: lib.func('int close(int fd)'),
  readlink: lib.func('long readlink(const char *path, void *buf, unsigned long size)'),
  ioctl: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
  shutdown: lib.func('int shutdown(int fd, int how)'),
};

const O_RDONLY_CLOEXEC = 0o2000000;

function result(ret: number): number {
  return ret < 0 ? -koffi.errno() : ret;
}

/** A pidfd, or -errno (ESRCH when the process is already reaped). */
export function pidfdOpenQuiet(pid: number): number {
  return result(c.pidfdOpen(pid, 0));
}

/**
 * Reads a whole small file into `buf` (at most its length); returns the byte count or -errno.
 * Meant for /proc files, which fill a read in one go up to a page.
 */
export function readFileQuiet(path: string, buf: Buffer): number {
  const fd = c.open(path, O_RDONLY_CLOEXEC, 0);
  if (fd < 0) return -koffi.errno();
  let at = 0;
  let ret = 0;
  while (at < buf.length) {
    const n = c.read(fd, at === 0 ? buf : buf.subarray(at), buf.length - at);
    if (n < 0) {
      ret = -koffi.errno();
      break;
    }
    if (n === 0) break;
    at += n;
  }
  c.close(fd);
  return ret < 0 ? ret : at;
}

/** The target of a symbolic link into `buf`: its length, or -errno. */
export function readlinkQuiet(path: string, buf: Buffer): number {
  return result(c.readlink(path, buf, buf.length));
}

/**
 * close(2) of a descriptor the caller owns, for the per-exit path: 0 or -errno. Linux always
 * releases the descriptor, even when it reports an error.
 */
export function closeQuiet(fd: number): number {
  return result(c.close(fd));
}

/** `ioctl(fd, request, buf)`: 0 or more on success, or -errno (ESRCH for a reaped process). */
export function ioctlQuiet(fd: number, request: number, buf: Buffer): number {
  return result(c.ioctl(fd, request, buf));
}

/**
 * shutdown(2): 0 or -errno. ENOTCONN, when the peer has closed its end already, is the usual
 * failure, and leaves the caller where a success would.
 */
export function shutdownQuiet(fd: number, how: number): number {
  return result(c.shutdown(fd, how));
}
