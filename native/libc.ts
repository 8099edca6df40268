/**
 * The C library through koffi: one typed function per call pidstream makes, and the one
 * place where a negative return becomes a `SyscallError` that names the call and errno.
 *
 * Bindings take `Buffer`s for out-parameters; callers own and reuse them so the per-event
 * path allocates nothing here. Nothing in this module logs: the loops that own the calls
 * decide what a failure means.
 */
import koffi from 'koffi';

import { SyscallError } from '../common/errors.js';

const lib = koffi.load('libc.so.6');

const ERRNO_NAMES = new Map<number, string>(
  Object.entries(koffi.os.errno).map(([name, value]) => [value, name]),
);

export const ERRNO = koffi.os.errno;

export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
}

/** Raises the error for a call that returned -1; `what` is `name(args)` as a reader wants it. */
export function fail(what: string): never {
  const errno = koffi.errno();
  throw new SyscallError(what, errno, errnoName(errno));
}

function check(ret: number, what: () => string): number {
  if (ret < 0) fail(what());
  return ret;
}

// Raw prototypes. `long syscall(long, ...)` is declared with fixed integer arguments: on
// x86-64 a variadic callee reads integer arguments from the same registers.
const c = {
  close: lib.func('int close(int fd)'),
  read: lib.func('long read(int fd, void *buf, unsigned long count)'),
  pread: lib.func('long pread(int fd, void *buf, unsigned long count, long offset)'),
  write: lib.func('long write(int fd, const void *buf, unsigned long count)'),
  open: lib.func('int open(const char *path, int flags, int mode)'),
  openat: lib.func('int openat(int dirfd, const char *path, int flags, int mode)'),
  readlink: lib.func('long readlink(const char *path, void *buf, unsigned long size)'),
  readlinkat: lib.func(
    'long readlinkat(int dirfd, const char *path, void *buf, unsigned long size)',
  ),
  fstat: lib.func('int fstat(int fd, void *statbuf)'),
  ioctlPtr: lib.func('ioctl', 'int', ['int', 'unsigned long', 'void *']),
  ioctlInt: lib.func('ioctl', 'int', ['int', 'unsigned long', 'unsigned long']),
  pidfdOpen: lib.func('int pidfd_open(int pid, unsigned int flags)'),
  pidfdSendSignal: lib.func(
    'int pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags)',
  ),
  syscall4: lib.func('syscall', 'long', [
    'long',
    'void *',
    'void *',
    'unsigned long',
    'unsigned int',
  ]),
  epollCreate1: lib.func('int epoll_create1(int flags)'),
  epollCtl: lib.func('int epoll_ctl(int epfd, int op, int fd, void *event)'),
  epollWait: lib.func('int epoll_wait(int epfd, void *events, int maxevents, int timeout)'),
  eventfd: lib.func('int eventfd(unsigned int initval, int flags)'),
  socket: lib.func('int socket(int domain, int type, int protocol)'),
  bind: lib.func('int bind(int fd, const void *addr, unsigned int addrlen)'),
  connect: lib.func('int connect(int fd, const void *addr, unsigned int addrlen)'),
  listen: lib.func('int listen(int fd, int backlog)'),
  accept4: lib.func('int accept4(int fd, void *addr, void *addrlen, int flags)'),
  send: lib.func('long send(int fd, const void *buf, unsigned long len, int flags)'),
  recv: lib.func('long recv(int fd, void *buf, unsigned long len, int flags)'),
  recvmmsg: lib.func(
    'int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)',
  ),
  getsockopt: lib.func('int getsockopt(int fd, int level, int name, void *val, void *len)'),
  setsockopt: lib.func(
    'int setsockopt(int fd, int level, int name, const void *val, unsigned int len)',
  ),
  getpid: lib.func('int getpid()'),
  gettid: lib.func('int gettid()'),
  prctlName: lib.func('prctl', 'int', ['int', 'const char *', 'unsigned long', 'unsigned long']),
};

export const O_RDONLY = 0;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_CREAT = 0o100;
export const O_TRUNC = 0o1000;
export const O_APPEND = 0o2000;
export const O_NONBLOCK = 0o4000;
export const O_DIRECTORY = 0o200000;
export const O_CLOEXEC = 0o2000000;
export const AT_FDCWD = -100;

export function close(fd: number): void {
  check(c.close(fd), () => `close(${fd})`);
}

/** Reads up to `len` bytes (default: the whole buffer); returns the count, 0 at end of file. */
export function read(fd: number, buf: Buffer, len = buf.length): number {
  return check(c.read(fd, buf, len), () => `read(${fd})`);
}

export function pread(fd: number, buf: Buffer, len: number, offset: number): number {
  return check(c.pread(fd, buf, len, offset), () => `pread(${fd}, ${offset})`);
}

export function write(fd: number, buf: Buffer, len = buf.length): number {
  return check(c.write(fd, buf, len), () => `write(${fd})`);
}

export function open(path: string, flags: number, mode = 0): number {
  return check(c.open(path, flags | O_CLOEXEC, mode), () => `open(${path})`);
}

export function openat(dirfd: number, path: string, flags: number, mode = 0): number {
  return check(c.openat(dirfd, path, flags | O_CLOEXEC, mode), () => `openat(${dirfd}, ${path})`);
}

/** The target of a symbolic link, as bytes read into `buf`; returns the length. */
export function readlink(path: string, buf: Buffer): number {
  return check(c.readlink(path, buf, buf.length), () => `readlink(${path})`);
}

export function readlinkat(dirfd: number, path: string, buf: Buffer): number {
  return check(c.readlinkat(dirfd, path, buf, buf.length), () => `readlinkat(${dirfd}, ${path})`);
}

/** `struct stat` on x86-64 is 144 bytes; st_ino is the u64 at offset 8. */
export const STAT_SIZE = 144;

export function fstatIno(fd: number, statbuf: Buffer): number {
  if (c.fstat(fd, statbuf) < 0) fail(`fstat(${fd})`);
  return statbuf.readUInt32LE(12) * 4294967296 + statbuf.readUInt32LE(8);
}

export function ioctl(fd: number, request: number, arg: Buffer, name: string): number {
  return check(c.ioctlPtr(fd, request, arg), () => `ioctl(${fd}, ${name})`);
}

export function ioctlValue(fd: number, request: number, arg: number, name: string): number {
  return check(c.ioctlInt(fd, request, arg), () => `ioctl(${fd}, ${name})`);
}

export function pidfdOpen(pid: number, flags = 0): number {
  return check(c.pidfdOpen(pid, flags), () => `pidfd_open(${pid})`);
}

export function pidfdSendSignal(pidfd: number, signal: number): void {
  check(c.pidfdSendSignal(pidfd, signal, null, 0), () => `pidfd_send_signal(${pidfd}, ${signal})`);
}

/** A raw four-argument syscall with two pointer arguments (listmount, statmount). */
export function syscall4(
  nr: number,
  name: string,
  a: Buffer,
  b: Buffer | null,
  size: number,
  flags: number,
): number {
  return check(c.syscall4(nr, a, b, size, flags), () => name);
}

export const EPOLL_CLOEXEC = 0o2000000;
export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLL_CTL_MOD = 3;
export const EPOLLIN = 0x001;
export const EPOLLERR = 0x008;
export const EPOLLHUP = 0x010;
export const EPOLLRDHUP = 0x2000;
/** `struct epoll_event` is packed on x86-64: u32 events, u64 data. */
export const EPOLL_EVENT_SIZE = 12;

export function epollCreate(): number {
  return check(c.epollCreate1(EPOLL_CLOEXEC), () => 'epoll_create1()');
}

/** Registers `fd` with `events`; `data` (a u32 the caller chooses) comes back with each event. */
export function epollCtl(
  epfd: number,
  op: number,
  fd: number,
  events: number,
  data: number,
  scratch: Buffer,
): void {
  scratch.writeUInt32LE(events, 0);
  scratch.writeUInt32LE(data >>> 0, 4);
  scratch.writeUInt32LE(0, 8);
  check(c.epollCtl(epfd, op, fd, scratch), () => `epoll_ctl(${epfd}, ${op}, ${fd})`);
}

export function epollWait(epfd: number, events: Buffer, timeoutMs: number): number {
  const ret = c.epollWait(epfd, events, Math.floor(events.length / EPOLL_EVENT_SIZE), timeoutMs);
  if (ret < 0 && koffi.errno() === ERRNO.EINTR) return 0;
  return check(ret, () => `epoll_wait(${epfd})`);
}

/**
 * `epoll_wait` on one of koffi's worker threads, so the Node event loop never blocks.
 * The buffer must not be touched until the callback runs.
 */
export function epollWaitAsync(
  epfd: number,
  events: Buffer,
  timeoutMs: number,
  done: (err: Error | null, count: number) => void,
): void {
  const max = Math.floor(events.length / EPOLL_EVENT_SIZE);
  c.epollWait.async(epfd, events, max, timeoutMs, (err: unknown, ret: number) => {
    if (err) return done(err instanceof Error ? err : new Error(String(err)), 0);
    if (ret < 0) {
      const errno = koffi.errno();
      if (errno === ERRNO.EINTR) return done(null, 0);
      return done(new SyscallError(`epoll_wait(${epfd})`, errno, errnoName(errno)), 0);
    }
    done(null, ret);
  });
}

export const EFD_CLOEXEC = 0o2000000;
export const EFD_NONBLOCK = 0o4000;

export function eventfd(flags = EFD_CLOEXEC | EFD_NONBLOCK): number {
  return check(c.eventfd(0, flags), () => 'eventfd()');
}

export const AF_UNIX = 1;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const SO_PEERCRED = 17;
/** SO_PEERPIDFD, include/uapi/asm-generic/socket.h, Linux 6.5. */
export const SO_PEERPIDFD = 77;
export const MSG_DONTWAIT = 0x40;
/** recv(2): block until `len` bytes arrived, the peer closed, a signal came, or an error. */
export const MSG_WAITALL = 0x100;
export const SHUT_RD = 0;
export const SHUT_WR = 1;

export function socket(domain: number, type: number, protocol: number): number {
  return check(
    c.socket(domain, type | SOCK_CLOEXEC, protocol),
    () => `socket(${domain}, ${type}, ${protocol})`,
  );
}

export function bind(fd: number, addr: Buffer, what: string): void {
  check(c.bind(fd, addr, addr.length), () => `bind(${what})`);
}

export function connect(fd: number, addr: Buffer, what: string): void {
  check(c.connect(fd, addr, addr.length), () => `connect(${what})`);
}

export function listen(fd: number, backlog: number): void {
  check(c.listen(fd, backlog), () => `listen(${fd})`);
}

/** Accepts one connection, or returns -1 when none is pending (EAGAIN on a non-blocking socket). */
export function accept(fd: number, flags = SOCK_CLOEXEC): number {
  const ret = c.accept4(fd, null, null, flags);
  if (ret < 0 && koffi.errno() === ERRNO.EAGAIN) return -1;
  return check(ret, () => `accept4(${fd})`);
}

export function send(fd: number, buf: Buffer, len = buf.length, flags = 0): number {
  return check(c.send(fd, buf, len, flags), () => `send(${fd})`);
}

/** Receives into `buf`; returns -1 when nothing is pending (EAGAIN), 0 at end of stream. */
export function recv(fd: number, buf: Buffer, len = buf.length, flags = 0): number {
  const ret = c.recv(fd, buf, len, flags);
  if (ret < 0 && koffi.errno() === ERRNO.EAGAIN) return -1;
  return check(ret, () => `recv(${fd})`);
}

/**
 * `struct mmsghdr` on x86-64: a 56-byte `struct msghdr` (msg_name, msg_namelen, msg_iov,
 * msg_iovlen, msg_control, msg_controllen, msg_flags) followed by the u32 `msg_len` the kernel
 * fills, padded to 64. `struct iovec` is a pointer and a length.
 */
export const MMSGHDR_SIZE = 64;
export const MMSGHDR_OFF_IOV = 16;
export const MMSGHDR_OFF_IOVLEN = 24;
export const MMSGHDR_OFF_FLAGS = 48;
export const MMSGHDR_OFF_LEN = 56;
export const IOVEC_SIZE = 16;
/** msg_flags: the datagram was longer than its buffer. */
export const MSG_TRUNC = 0x20;

/**
 * Receives up to `vlen` datagrams in one call into the buffers `msgvec` describes (see
 * MMSGHDR_SIZE); returns how many, or -1 when nothing is pending (EAGAIN). An error met after
 * the first datagram is kept by the kernel for the next call.
 */
export function recvmmsg(fd: number, msgvec: Buffer, vlen: number, flags: number): number {
  const ret = c.recvmmsg(fd, msgvec, vlen, flags, null);
  if (ret < 0 && koffi.errno() === ERRNO.EAGAIN) return -1;
  return check(ret, () => `recvmmsg(${fd})`);
}

/**
 * The address of a buffer's memory, for pointers the kernel follows from inside a struct
 * (iovecs). The memory of an ArrayBuffer never moves, so the address holds for the buffer's
 * life; the caller keeps the buffer referenced for as long as the kernel may use it.
 */
export function addressOf(buf: Buffer): bigint {
  return koffi.address(buf);
}

/** Reads an int-sized socket option; returns the value. */
export function getsockoptInt(fd: number, level: number, name: number, what: string): number {
  const val = Buffer.alloc(4);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(4, 0);
  check(c.getsockopt(fd, level, name, val, len), () => `getsockopt(${fd}, ${what})`);
  return val.readInt32LE(0);
}

/** Reads a socket option into `val`; returns the length the kernel wrote. */
export function getsockopt(
  fd: number,
  level: number,
  name: number,
  val: Buffer,
  what: string,
): number {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(val.length, 0);
  check(c.getsockopt(fd, level, name, val, len), () => `getsockopt(${fd}, ${what})`);
  return len.readUInt32LE(0);
}

export function setsockoptInt(
  fd: number,
  level: number,
  name: number,
  value: number,
  what: string,
): void {
  const val = Buffer.alloc(4);
  val.writeInt32LE(value, 0);
  check(c.setsockopt(fd, level, name, val, 4), () => `setsockopt(${fd}, ${what})`);
}

export function getpid(): number {
  return c.getpid();
}

export function gettid(): number {
  return c.gettid();
}

/** PR_SET_NAME, include/uapi/linux/prctl.h: the calling thread's name, at most 15 bytes. */
const PR_SET_NAME = 15;
const THREAD_NAME_MAX_BYTES = 15;

/**
 * Names the calling thread, as `top -H`, `ps -L` and /proc/PID/task/TID/comm show it. Node
 * leaves every thread named after the process.
 */
export function setThreadName(name: string): void {
  if (Buffer.byteLength(name) > THREAD_NAME_MAX_BYTES) {
    throw new RangeError(`thread name '${name}': at most ${THREAD_NAME_MAX_BYTES} bytes`);
  }
  check(c.prctlName(PR_SET_NAME, name, 0, 0), () => `prctl(PR_SET_NAME, ${name})`);
}
