/**
 * The netlink process-events connector: fork, exec, uid and exit notices for every task on the
 * host, without eBPF. Layouts from include/uapi/linux/netlink.h, include/uapi/linux/connector.h
 * and include/uapi/linux/cn_proc.h (the connector exists since Linux 2.6.15).
 *
 * The socket is non-blocking: the agent waits for it in epoll and drains it with `drain`, which
 * takes up to NOTICES_PER_RECEIVE datagrams per system call (recvmmsg, Linux 2.6.33).
 * Nothing here logs; an overflow (`ENOBUFS`) is reported to the caller, which decides.
 */
import {
  addressOf,
  AF_NETLINK,
  bind,
  close,
  ERRNO,
  IOVEC_SIZE,
  MMSGHDR_OFF_IOV,
  MMSGHDR_OFF_IOVLEN,
  MMSGHDR_OFF_LEN,
  MMSGHDR_SIZE,
  MSG_DONTWAIT,
  recvmmsg,
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

/**
 * Datagrams taken per recvmmsg. Under churn a wake finds tens to hundreds of notices queued;
 * one system call for each cost more CPU than handling the notice (bench:exits).
 */
export const NOTICES_PER_RECEIVE = 64;
/**
 * Bytes kept of one datagram. A proc-connector datagram is nlmsghdr + cn_msg + proc_event,
 * 76 bytes with the largest event_data member of Linux 6.18; a longer one from a later kernel
 * is cut (MSG_TRUNC) after the fields read here.
 */
const NOTICE_SLOT_BYTES = 128;
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
  /** NOTICES_PER_RECEIVE slots of NOTICE_SLOT_BYTES, each the target of one iovec. */
  readonly #slots = Buffer.alloc(NOTICES_PER_RECEIVE * NOTICE_SLOT_BYTES);
  readonly #iovecs = Buffer.alloc(NOTICES_PER_RECEIVE * IOVEC_SIZE);
  /** The mmsghdr vector recvmmsg fills; set up once, the kernel writes only msg_len and flags. */
  readonly #msgs = Buffer.alloc(NOTICES_PER_RECEIVE * MMSGHDR_SIZE);
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
    const slots = addressOf(this.#slots);
    const iovecs = addressOf(this.#iovecs);
    for (let i = 0; i < NOTICES_PER_RECEIVE; i++) {
      this.#iovecs.writeBigUInt64LE(slots + BigInt(i * NOTICE_SLOT_BYTES), i * IOVEC_SIZE);
      this.#iovecs.writeBigUInt64LE(BigInt(NOTICE_SLOT_BYTES), i * IOVEC_SIZE + 8);
      const msg = i * MMSGHDR_SIZE;
      this.#msgs.writeBigUInt64LE(iovecs + BigInt(i * IOVEC_SIZE), msg + MMSGHDR_OFF_IOV);
      this.#msgs.writeBigUInt64LE(1n, msg + MMSGHDR_OFF_IOVLEN);
    }
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
   * usable after it. A receive that comes back with fewer datagrams than it asked for found
   * the queue empty, so it ends the drain without a further call.
   */
  drain(onNotice: (n: ProcNotice) => void, maxNotices: number): DrainResult {
    const slots = this.#slots;
    const msgs = this.#msgs;
    for (let taken = 0; taken < maxNotices;) {
      const want = Math.min(NOTICES_PER_RECEIVE, maxNotices - taken);
      let got: number;
      try {
        got = recvmmsg(this.fd, msgs, want, MSG_DONTWAIT);
      } catch (err) {
        if (err instanceof SyscallError && err.errno === ERRNO.ENOBUFS) return 'overflow';
        throw err;
      }
      if (got < 0) return 'drained';
      for (let i = 0; i < got; i++) {
        const len = msgs.readUInt32LE(i * MMSGHDR_SIZE + MMSGHDR_OFF_LEN);
        if (len >= MIN_EVENT_LEN) onNotice(this.#decode(slots, i * NOTICE_SLOT_BYTES));
      }
      taken += got;
      if (got < want) return 'drained';
    }
    return 'drained';
  }

  /** Decodes the datagram at `at` into the shared notice. */
  #decode(buf: Buffer, at: number): ProcNotice {
    const n = this.#notice;
    n.what = buf.readUInt32LE(at + EV_WHAT);
    n.timestampNs =
      buf.readUInt32LE(at + EV_TIMESTAMP + 4) * 4294967296 + buf.readUInt32LE(at + EV_TIMESTAMP);
    const data = at + EV_DATA;
    if (n.what === PROC_EVENT_FORK) {
      n.parentPid = buf.readUInt32LE(data);
      n.parentTgid = buf.readUInt32LE(data + 4);
      n.childPid = buf.readUInt32LE(data + 8);
      n.childTgid = buf.readUInt32LE(data + 12);
    } else {
      n.pid = buf.readUInt32LE(data);
      n.tgid = buf.readUInt32LE(data + 4);
      if (n.what === PROC_EVENT_EXIT) {
        n.exitCode = buf.readInt32LE(data + 8);
        n.exitSignal = buf.readUInt32LE(data + 12);
        n.parentPid = buf.readUInt32LE(data + 16);
        n.parentTgid = buf.readUInt32LE(data + 20);
      }
    }
    return n;
  }

  close(): void {
    try {
      this.#control(PROC_CN_MCAST_IGNORE);
    } finally {
      close(this.fd);
    }
  }
}
