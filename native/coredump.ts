/**
 * The coredump socket protocol, from include/uapi/linux/coredump.h (Linux 6.16 for the `@`
 * socket form, Linux 6.17 for the `@@` request/ack form). The machine's C headers predate it,
 * so the layouts and values live here.
 *
 * With `@@`, the kernel connects, sends a `struct coredump_req`, waits for a
 * `struct coredump_ack`, then writes a 4-byte mark (`enum coredump_mark`, a u32, 0 = the ack
 * was taken) and, when the ack asked for COREDUMP_KERNEL, the core itself until end of stream.
 */

// Bits of coredump_req.mask (offered) and coredump_ack.mask (chosen); u64 in the header.
/** The kernel writes the core into the socket. */
export const COREDUMP_KERNEL = 1 << 0;
/** The server writes the core itself (from /proc/PID/mem); pidstream never chooses it. */
export const COREDUMP_USERSPACE = 1 << 1;
/** No core at all. */
export const COREDUMP_REJECT = 1 << 2;
/** The kernel keeps the task until the server closes the connection. */
export const COREDUMP_WAIT = 1 << 3;

/** The three mutually exclusive dispositions: an ack holds exactly one of them. */
const DISPOSITIONS = COREDUMP_KERNEL | COREDUMP_USERSPACE | COREDUMP_REJECT;

/** sizeof(struct coredump_req) and sizeof(struct coredump_ack) as first published. */
export const COREDUMP_REQ_SIZE_VER0 = 16;
export const COREDUMP_ACK_SIZE_VER0 = 16;
/** A request larger than this is not a kernel's: the connection is dropped. */
export const COREDUMP_REQ_SIZE_MAX = 4096;
/** `enum coredump_mark` travels as a u32. */
export const COREDUMP_MARK_SIZE = 4;

/** enum coredump_mark. */
export const COREDUMP_MARK_REQACK = 0;
export const COREDUMP_MARK_NAMES = ['REQACK', 'MINSIZE', 'MAXSIZE', 'UNSUPPORTED', 'CONFLICTING'];

export interface CoredumpReq {
  /** sizeof the kernel's struct coredump_req: how many bytes it sent. */
  size: number;
  /** sizeof the struct coredump_ack the kernel understands: the most the ack may hold. */
  sizeAck: number;
  /** Features offered (COREDUMP_*). */
  mask: number;
}

/** Decodes the fixed part of a request; `buf` holds at least COREDUMP_REQ_SIZE_VER0 bytes. */
export function decodeCoredumpReq(buf: Buffer): CoredumpReq {
  return {
    size: buf.readUInt32LE(0),
    sizeAck: buf.readUInt32LE(4),
    mask: Number(buf.readBigUInt64LE(8)),
  };
}

/**
 * The ack for `disposition` (one of KERNEL, USERSPACE, REJECT), adding COREDUMP_WAIT when
 * wanted and offered. Throws a RangeError for an ack the kernel would refuse: a disposition
 * that is not exactly one bit of the three, or a bit the request did not offer.
 */
export function encodeCoredumpAck(req: CoredumpReq, disposition: number, wait: boolean): Buffer {
  const mask = disposition | (wait && (req.mask & COREDUMP_WAIT) !== 0 ? COREDUMP_WAIT : 0);
  const chosen = disposition & DISPOSITIONS;
  if (chosen !== disposition || (chosen & (chosen - 1)) !== 0 || chosen === 0) {
    throw new RangeError(`coredump ack: disposition ${disposition} is not exactly one of 1, 2, 4`);
  }
  if ((mask & ~req.mask) !== 0) {
    throw new RangeError(
      `coredump ack: mask ${mask} has bits the request did not offer (${req.mask})`,
    );
  }
  if (req.sizeAck < COREDUMP_ACK_SIZE_VER0) {
    throw new RangeError(`coredump ack: the kernel accepts only ${req.sizeAck} bytes`);
  }
  const ack = Buffer.alloc(COREDUMP_ACK_SIZE_VER0);
  ack.writeUInt32LE(COREDUMP_ACK_SIZE_VER0, 0);
  ack.writeUInt32LE(0, 4); // spare: must be zero
  ack.writeBigUInt64LE(BigInt(mask), 8);
  return ack;
}

export function coredumpMarkName(mark: number): string {
  return COREDUMP_MARK_NAMES[mark] ?? `mark ${mark}`;
}
