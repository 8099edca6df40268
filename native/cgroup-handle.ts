/**
 * cgroup id → path in one lookup, through a file handle. On cgroup2 the id the kernel reports
 * (PIDFD_INFO_CGROUPID, PIDFD_INFO_EXIT) is the kernfs node id, and kernfs accepts it back as
 * a file handle of type FILEID_KERNFS (`include/linux/exportfs.h`, 64-bit ids since Linux 5.5):
 * `open_by_handle_at` gives the cgroup's directory, and its /proc/self/fd link the path. A
 * cgroup that no longer exists answers ESTALE. open_by_handle_at needs CAP_DAC_READ_SEARCH.
 */
import koffi from 'koffi';

import { close, fail, O_CLOEXEC, O_DIRECTORY, O_RDONLY, open, readlink } from './libc.js';

/** FILEID_KERNFS in `include/linux/exportfs.h`. */
export const FILEID_KERNFS = 0xfe;
/** `struct file_handle`: u32 handle_bytes, i32 handle_type, then the u64 kernfs id. */
const HANDLE_SIZE = 16;
/** PATH_MAX: the longest path readlink can report. */
const PATH_MAX = 4096;

const lib = koffi.load('libc.so.6');
const openByHandleAt = lib.func('int open_by_handle_at(int mount_fd, void *handle, int flags)');

export class CgroupHandles {
  readonly mount: string;
  readonly #mountFd: number;
  readonly #handle = Buffer.alloc(HANDLE_SIZE);
  readonly #link = Buffer.alloc(PATH_MAX);

  constructor(mount: string) {
    this.mount = mount;
    this.#mountFd = open(mount, O_RDONLY | O_DIRECTORY);
    this.#handle.writeUInt32LE(8, 0);
    this.#handle.writeInt32LE(FILEID_KERNFS, 4);
  }

  /**
   * The path of cgroup `id` below the mount (`/` for the root), or null when no cgroup has
   * that id any more (ESTALE). Other failures, such as EPERM without CAP_DAC_READ_SEARCH,
   * raise a SyscallError naming the call.
   */
  pathOf(id: number): string | null {
    this.#handle.writeBigUInt64LE(BigInt(id), 8);
    const fd = openByHandleAt(this.#mountFd, this.#handle, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
      if (koffi.errno() === koffi.os.errno.ESTALE) return null;
      fail(`open_by_handle_at(${this.mount}, FILEID_KERNFS ${id})`);
    }
    let target: string;
    try {
      target = this.#link.toString('utf8', 0, readlink(`/proc/self/fd/${fd}`, this.#link));
    } finally {
      close(fd);
    }
    if (target === this.mount) return '/';
    return target.startsWith(`${this.mount}/`) ? target.slice(this.mount.length) : target;
  }

  close(): void {
    close(this.#mountFd);
  }
}
