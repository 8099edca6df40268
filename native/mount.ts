/**
 * Mount identity of a process's root: which mount namespace it lives in and which file system
 * its `/` is, without asking a container runtime. Layouts from include/uapi/linux/mount.h
 * (`statmount`/`listmount`, Linux 6.8; `mnt_id_req.mnt_ns_id`, Linux 6.11),
 * include/uapi/linux/stat.h (`STATX_MNT_ID_UNIQUE`, Linux 6.8) and include/uapi/linux/nsfs.h
 * (`NS_GET_MNTNS_ID`, Linux 6.11).
 */
import koffi from 'koffi';

import { AT_FDCWD, close, fail, ioctl, ioctlValue, syscall4 } from './libc.js';
import { PIDFD_GET_MNT_NAMESPACE } from './pidfd.js';

const lib = koffi.load('libc.so.6');
const statxCall = lib.func(
  'int statx(int dirfd, const char *path, int flags, unsigned int mask, void *buf)',
);

/** x86-64 syscall numbers. */
export const SYS_STATMOUNT = 457;
export const SYS_LISTMOUNT = 458;

/** statx mask bit: `stx_mnt_id` is the 64-bit unique mount id, not the reusable one. */
export const STATX_MNT_ID_UNIQUE = 0x4000;
const STATX_SIZE = 256;
const STATX_OFF_MASK = 0;
const STATX_OFF_MNT_ID = 144;

/** `_IOR(0xb7, 5, __u64)`. */
export const NS_GET_MNTNS_ID = 0x8008b705;

/** `struct mnt_id_req` with `mnt_ns_id` (MNT_ID_REQ_SIZE_VER1). */
export const MNT_ID_REQ_SIZE_VER1 = 32;

export const STATMOUNT_SB_BASIC = 0x1;
export const STATMOUNT_MNT_BASIC = 0x2;
export const STATMOUNT_MNT_ROOT = 0x8;
export const STATMOUNT_MNT_POINT = 0x10;
export const STATMOUNT_FS_TYPE = 0x20;
export const STATMOUNT_MNT_NS_ID = 0x40;

/** The fixed part of `struct statmount`; strings follow at `str`. */
const STATMOUNT_FIXED_SIZE = 512;
/** Room for the strings asked for (fs type, mount root, mount point): each a path at most. */
export const STATMOUNT_BUFFER_SIZE = STATMOUNT_FIXED_SIZE + 3 * 4096;

export interface RootMount {
  /** The mount namespace id (Linux 6.11), the same for every process sharing that namespace. */
  mntNsId: number;
  /** The unique mount id of the process's `/`. */
  mntId: number;
  /** The file system type, e.g. `ext4`, `overlay`. */
  fsType: string;
  /** The directory of the file system mounted at the process's `/`. */
  mntRoot: string;
  /** Where that mount sits in its namespace: `/` for a process's root. */
  mntPoint: string;
  /** `major:minor` of the super block's device. */
  device: string;
}

/** The unique mount id of the mount holding `path` (following symbolic links). */
export function uniqueMountId(path: string): number {
  const buf = Buffer.alloc(STATX_SIZE);
  if (statxCall(AT_FDCWD, path, 0, STATX_MNT_ID_UNIQUE, buf) < 0) fail(`statx(${path})`);
  if ((buf.readUInt32LE(STATX_OFF_MASK) & STATX_MNT_ID_UNIQUE) === 0) {
    throw new RangeError(`statx(${path}): the kernel did not return STATX_MNT_ID_UNIQUE`);
  }
  return Number(buf.readBigUInt64LE(STATX_OFF_MNT_ID));
}

/** The id of the mount namespace a process lives in, from its pidfd. */
export function mountNamespaceId(pidfd: number): number {
  const nsfd = ioctlValue(pidfd, PIDFD_GET_MNT_NAMESPACE, 0, 'PIDFD_GET_MNT_NAMESPACE');
  try {
    const id = Buffer.alloc(8);
    ioctl(nsfd, NS_GET_MNTNS_ID, id, 'NS_GET_MNTNS_ID');
    return Number(id.readBigUInt64LE(0));
  } finally {
    close(nsfd);
  }
}

function statmountString(buf: Buffer, offsetField: number): string {
  const at = STATMOUNT_FIXED_SIZE + buf.readUInt32LE(offsetField);
  const end = buf.indexOf(0, at);
  return buf.toString('utf8', at, end < 0 ? buf.length : end);
}

/** `statmount(2)` of mount `mntId` in mount namespace `mntNsId` (0: the caller's). */
export function statmount(mntId: number, mntNsId: number): RootMount {
  const req = Buffer.alloc(MNT_ID_REQ_SIZE_VER1);
  req.writeUInt32LE(MNT_ID_REQ_SIZE_VER1, 0);
  req.writeBigUInt64LE(BigInt(mntId), 8);
  const mask =
    STATMOUNT_SB_BASIC |
    STATMOUNT_MNT_BASIC |
    STATMOUNT_MNT_ROOT |
    STATMOUNT_MNT_POINT |
    STATMOUNT_FS_TYPE |
    STATMOUNT_MNT_NS_ID;
  req.writeBigUInt64LE(BigInt(mask), 16);
  req.writeBigUInt64LE(BigInt(mntNsId), 24);
  const buf = Buffer.alloc(STATMOUNT_BUFFER_SIZE);
  syscall4(SYS_STATMOUNT, `statmount(${mntId}, ns ${mntNsId})`, req, buf, buf.length, 0);
  return {
    mntNsId: Number(buf.readBigUInt64LE(112)),
    mntId: Number(buf.readBigUInt64LE(40)),
    fsType: statmountString(buf, 36),
    mntRoot: statmountString(buf, 104),
    mntPoint: statmountString(buf, 108),
    device: `${buf.readUInt32LE(16)}:${buf.readUInt32LE(20)}`,
  };
}

/** The root mount of the process behind `pidfd` (pid `pid` in the agent's namespace). */
export function processRootMount(pid: number, pidfd: number): RootMount {
  const mntNsId = mountNamespaceId(pidfd);
  return statmount(uniqueMountId(`/proc/${pid}/root`), mntNsId);
}
