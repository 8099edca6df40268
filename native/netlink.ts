/**
 * The netlink process-events connector: fork, exec, uid and exit notices for every task on the
 * host, without eBPF. Layouts from include/uapi/linux/netlink.h, include/uapi/linux/connector.h
 * and include/uapi/linux/cn_proc.h (the connector exists since Linux 2.6.15).
 *
 * The socket is non-blocking: the agent waits for it in epoll and drains it with `drain`.
 * Nothing here logs; an overflow (`ENOBUFS`) is reported to the caller, which decides.
 */
import {
  AF_NETLINK,
  bind,
  close,
  ERRNO,
  recv,
  send,
  setsockoptInt,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOL_SOCKET,
  SO_RCVBUFFORCE,
  socket,
} from './libc.js';
import { SyscallError } from '../common/errors.js';

/** include/uapi/linux/netlink.h */
export const NETLINK_CONNECTOR = 11;
const NLMSG_HDRLEN = 16;
const NLMSG_DONE = 3;
/** include/uapi/linux/connector.h: struct cn_msg is 20 bytes; CN_IDX_PROC/CN_VAL_PROC = 1/1. */
const CN_MSG_LEN = 20;
export const CN_IDX_PROC = 1;
const CN_VAL_PROC = 1;
/** enum proc_cn_mcast_op, include/uapi/linux/cn_proc.h */
const PROC_CN_MCAST_LISTEN = 1;
const PROC_CN_MCAST_IGNORE = 2;

/** enum what in struct proc_event, include/uapi/linux/cn_proc.h */
export const PROC_EVENT_FORK = 0x00000001;
export const PROC_EVENT_EXEC = 0x00000002;
export const PROC_EVENT_UID = 0x00000004;
export const PROC_EVENT_EXIT = 0x80000000;

// struct proc_event begins right after nlmsghdr (16) + cn_msg (20): what u32, cpu u32,
// timestamp_ns u64 (CLOCK_MONOTONIC, ktime_get_ns), then event_data.
const EV = NLMSG_HDRLEN + CN_MSG_LEN;
const EV_WHAT = EV;
const EV_TIMESTAMP = EV + 8;
const EV_DATA = EV + 16;
/** The shortest datagram holding a proc_event with its largest common member (exit, 24 bytes). */
const MIN_EVENT_LEN = EV_DATA + 24;

/** Bytes of one receive: proc-connector datagrams are under 100 bytes, one per recv. */
const RECV_BUFFER_BYTES = 4096;
/**
 * The socket's receive buffer. At 7,500 processes/s with threads a burst fills the default
 * 208 KiB in well under a second while the agent is busy; 32 MiB holds about 300,000 notices.
 */
export const CONNECTOR_RCVBUF_BYTES = 32 * 1024 * 1024;

/**
 * One decoded notice, reused between calls (the per-event path allocates nothing). Fields not
 * carried by a kind keep stale values: read only those the kind defines.
 */
export interface ProcNotice {
  what: number;
  /** CLOCK_MONOTONIC nanoseconds at which the kernel sent the notice, as a double. */
  timestampNs: number;
  /** fork: parent_pid, parent_tgid, child_pid, child_tgid. */
  parentPid: number;
  parentTgid: number;
  childPid: number;
  childTgid: number;
  /** exec, uid, exit: process_pid and process_tgid. */
  pid: number;
  tgid: number;
  /** exit: the raw wait status (not a plain exit code despite its name). */
  exitCode: number;
  /**
   * exit: the signal sent to the parent (normally SIGCHLD), NOT the signal that killed the
   * process; that one is in `exitCode`.
   */
  exitSignal: number;
}

export type DrainResult = 'drained' | 'overflow';

export class ProcConnector {
  readonly fd: number;
  readonly #buf = Buffer.alloc(RECV_BUFFER_BYTES);
  readonly #notice: ProcNotice = {
    what: 0,
    timestampNs: 0,
    parentPid: 0,
    parentTgid: 0,
    childPid: 0,
    childTgid: 0,
    pid: 0,
    tgid: 0,
    exitCode: 0,
    exitSignal: 0,
  };

  /** Opens, binds to the CN_IDX_PROC group and subscribes. Needs CAP_NET_ADMIN. */
  constructor(rcvbufBytes = CONNECTOR_RCVBUF_BYTES) {
    this.fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK, NETLINK_CONNECTOR);
    try {
      setsockoptInt(this.fd, SOL_SOCKET, SO_RCVBUFFORCE, rcvbufBytes, 'SO_RCVBUFFORCE');
      const addr = Buffer.alloc(12);
      addr.writeUInt16LE(AF_NETLINK, 0);
      addr.writeUInt32LE(0, 4);
      addr.writeUInt32LE(CN_IDX_PROC, 8);
      bind(this.fd, addr, 'NETLINK_CONNECTOR, CN_IDX_PROC');
      this.#control(PROC_CN_MCAST_LISTEN);
    } catch (err) {
      close(this.fd);
      throw err;
    }
  }

  #control(op: number): void {
    const msg = Buffer.alloc(NLMSG_HDRLEN + CN_MSG_LEN + 4);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(NLMSG_DONE, 4);
    msg.writeUInt32LE(CN_IDX_PROC, NLMSG_HDRLEN);
    msg.writeUInt32LE(CN_VAL_PROC, NLMSG_HDRLEN + 4);
    msg.writeUInt16LE(4, NLMSG_HDRLEN + 16);
    msg.writeUInt32LE(op, NLMSG_HDRLEN + CN_MSG_LEN);
    send(this.fd, msg);
  }

  /**
   * Receives every pending notice, calling `onNotice` for each with the shared notice object
   * (valid only during the call). Stops at `maxNotices` so one wake cannot starve the rest of
   * the loop. Returns 'overflow' when the kernel dropped notices (`ENOBUFS`); the socket stays
   * usable after it.
   */
  drain(onNotice: (n: ProcNotice) => void, maxNotices: number): DrainResult {
    const buf = this.#buf;
    const n = this.#notice;
    for (let i = 0; i < maxNotices; i++) {
      let len: number;
      try {
        len = recv(this.fd, buf);
      } catch (err) {
        if (err instanceof SyscallError && err.errno === ERRNO.ENOBUFS) return 'overflow';
        throw err;
      }
      if (len < 0) return 'drained';
      if (len < MIN_EVENT_LEN) continue;
      n.what = buf.readUInt32LE(EV_WHAT);
      n.timestampNs =
        buf.readUInt32LE(EV_TIMESTAMP + 4) * 4294967296 + buf.readUInt32LE(EV_TIMESTAMP);
      if (n.what === PROC_EVENT_FORK) {
        n.parentPid = buf.readUInt32LE(EV_DATA);
        n.parentTgid = buf.readUInt32LE(EV_DATA + 4);
        n.childPid = buf.readUInt32LE(EV_DATA + 8);
        n.childTgid = buf.readUInt32LE(EV_DATA + 12);
      } else {
        n.pid = buf.readUInt32LE(EV_DATA);
        n.tgid = buf.readUInt32LE(EV_DATA + 4);
        if (n.what === PROC_EVENT_EXIT) {
          n.exitCode = buf.readInt32LE(EV_DATA + 8);
          n.exitSignal = buf.readUInt32LE(EV_DATA + 12);
          n.parentPid = buf.readUInt32LE(EV_DATA + 16);
          n.parentTgid = buf.readUInt32LE(EV_DATA + 20);
        }
      }
      onNotice(n);
    }
    return 'drained';
  }

  close(): void {
    try {
      this.#control(PROC_CN_MCAST_IGNORE);
    } finally {
      close(this.fd);
    }
  }
}
