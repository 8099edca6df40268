/**
 * pidfd and pidfs: a handle on one process that cannot be confused with a later process
 * reusing its pid, its boot-unique inode, and what the kernel tells about it through
 * `PIDFD_GET_INFO`. Values from include/uapi/linux/pidfd.h.
 */
import { fstatIno, ioctl, pidfdOpen, STAT_SIZE } from './libc.js';

/** pidfd_open flag (Linux 5.10): O_NONBLOCK. */
export const PIDFD_NONBLOCK = 0o4000;

// Request and result bits of `struct pidfd_info.mask`.
/** Linux 6.13: pid, tgid, ppid; always returned. */
export const PIDFD_INFO_PID = 1 << 0;
/** Linux 6.13: the eight credential ids; always returned while the task lives. */
export const PIDFD_INFO_CREDS = 1 << 1;
/** Linux 6.13: the cgroup2 id. */
export const PIDFD_INFO_CGROUPID = 1 << 2;
/** Linux 6.15: exit status and cgroup id, once the process was reaped. */
export const PIDFD_INFO_EXIT = 1 << 3;
/** Linux 6.16: `coredump_mask`. */
export const PIDFD_INFO_COREDUMP = 1 << 4;
/** Linux 6.19: `supported_mask`; absent on 6.18, so never assumed. */
export const PIDFD_INFO_SUPPORTED_MASK = 1 << 5;
/** Linux 6.19: `coredump_signal`; absent on 6.18, where the signal comes from the core's notes. */
export const PIDFD_INFO_COREDUMP_SIGNAL = 1 << 6;

// Bits of `struct pidfd_info.coredump_mask` (Linux 6.16).
export const PIDFD_COREDUMPED = 1 << 0;
export const PIDFD_COREDUMP_SKIP = 1 << 1;
export const PIDFD_COREDUMP_USER = 1 << 2;
export const PIDFD_COREDUMP_ROOT = 1 << 3;

/** `struct pidfd_info` as of Linux 6.19: 80 bytes. Older kernels fill a prefix and say so in `mask`. */
export const PIDFD_INFO_SIZE = 80;
/** `_IOWR(0xFF, 11, struct pidfd_info)` with the 80-byte size. */
export const PIDFD_GET_INFO = 0xc050ff0b;
/** `_IO(0xFF, 3)`, Linux 6.11; its argument must be 0. */
export const PIDFD_GET_MNT_NAMESPACE = 0xff03;

export interface PidfdInfo {
  /** Which of the fields below the kernel filled. */
  mask: number;
  cgroupid: number;
  pid: number;
  tgid: number;
  ppid: number;
  ruid: number;
  rgid: number;
  euid: number;
  egid: number;
  suid: number;
  sgid: number;
  fsuid: number;
  fsgid: number;
  /** The raw wait status, as waitpid(2) would report it; valid when `mask` has PIDFD_INFO_EXIT. */
  exit_code: number;
  coredump_mask: number;
  coredump_signal: number;
}

/**
 * Fills `buf` (PIDFD_INFO_SIZE bytes, reused by the caller) with `PIDFD_GET_INFO` for the
 * requested bits. Returns the raw buffer; decode with `decodePidfdInfo` or read fields directly
 * on the hot path with the `INFO_OFF_*` offsets.
 */
export function pidfdGetInfoRaw(pidfd: number, request: number, buf: Buffer): Buffer {
  buf.fill(0);
  buf.writeBigUInt64LE(BigInt(request), 0);
  ioctl(pidfd, PIDFD_GET_INFO, buf, 'PIDFD_GET_INFO');
  return buf;
}

export const INFO_OFF_MASK = 0;
export const INFO_OFF_CGROUPID = 8;
export const INFO_OFF_PID = 16;
export const INFO_OFF_TGID = 20;
export const INFO_OFF_PPID = 24;
export const INFO_OFF_RUID = 28;
export const INFO_OFF_EXIT_CODE = 60;
export const INFO_OFF_COREDUMP_MASK = 64;
export const INFO_OFF_COREDUMP_SIGNAL = 68;

export function decodePidfdInfo(buf: Buffer): PidfdInfo {
  return {
    mask: Number(buf.readBigUInt64LE(INFO_OFF_MASK)),
    cgroupid: Number(buf.readBigUInt64LE(INFO_OFF_CGROUPID)),
    pid: buf.readUInt32LE(16),
    tgid: buf.readUInt32LE(20),
    ppid: buf.readUInt32LE(24),
    ruid: buf.readUInt32LE(28),
    rgid: buf.readUInt32LE(32),
    euid: buf.readUInt32LE(36),
    egid: buf.readUInt32LE(40),
    suid: buf.readUInt32LE(44),
    sgid: buf.readUInt32LE(48),
    fsuid: buf.readUInt32LE(52),
    fsgid: buf.readUInt32LE(56),
    exit_code: buf.readInt32LE(INFO_OFF_EXIT_CODE),
    coredump_mask: buf.readUInt32LE(INFO_OFF_COREDUMP_MASK),
    coredump_signal: buf.readUInt32LE(INFO_OFF_COREDUMP_SIGNAL),
  };
}

/** Convenience for cold paths: a fresh buffer, decoded. */
export function pidfdGetInfo(pidfd: number, request: number): PidfdInfo {
  return decodePidfdInfo(pidfdGetInfoRaw(pidfd, request, Buffer.alloc(PIDFD_INFO_SIZE)));
}

/**
 * The pidfs inode of a pidfd (Linux 6.9): unique for the boot, never reused, so with the boot
 * id it names a process fleet-wide.
 */
export function pidfsInode(pidfd: number, statbuf: Buffer = Buffer.alloc(STAT_SIZE)): number {
  return fstatIno(pidfd, statbuf);
}

export { pidfdOpen };
