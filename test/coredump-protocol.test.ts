/**
 * The coredump ack as the kernel demands it (include/uapi/linux/coredump.h): exactly one of
 * KERNEL, USERSPACE, REJECT, only offered bits, a zero spare; and the rate syntax of the policy.
 */
import { describe, expect, it } from 'vitest';

import { parseCoreRate } from '../ingest/coredump/policy.js';
import {
  COREDUMP_KERNEL,
  COREDUMP_REJECT,
  COREDUMP_USERSPACE,
  COREDUMP_WAIT,
  decodeCoredumpReq,
  encodeCoredumpAck,
} from '../native/coredump.js';

const ALL = COREDUMP_KERNEL | COREDUMP_USERSPACE | COREDUMP_REJECT | COREDUMP_WAIT;

function request(mask: number, sizeAck = 16): Buffer {
  const buf = Buffer.alloc(16);
  buf.writeUInt32LE(16, 0);
  buf.writeUInt32LE(sizeAck, 4);
  buf.writeBigUInt64LE(BigInt(mask), 8);
  return buf;
}

describe('coredump request and ack', () => {
  it('decodes the kernel request', () => {
    expect(decodeCoredumpReq(request(ALL, 16))).toEqual({ size: 16, sizeAck: 16, mask: 15 });
  });

  it('writes size 16, a zero spare and KERNEL|WAIT when WAIT is offered', () => {
    const ack = encodeCoredumpAck(decodeCoredumpReq(request(ALL)), COREDUMP_KERNEL, true);
    expect([...ack]).toEqual([16, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('leaves WAIT out when the kernel did not offer it', () => {
    const offered = COREDUMP_KERNEL | COREDUMP_REJECT;
    const ack = encodeCoredumpAck(decodeCoredumpReq(request(offered)), COREDUMP_KERNEL, true);
    expect(ack.readBigUInt64LE(8)).toBe(BigInt(COREDUMP_KERNEL));
  });

  it('refuses an ack with two dispositions', () => {
    const req = decodeCoredumpReq(request(ALL));
    expect(() => encodeCoredumpAck(req, COREDUMP_KERNEL | COREDUMP_REJECT, false)).toThrow(
      'coredump ack: disposition 5 is not exactly one of 1, 2, 4',
    );
  });

  it('refuses an ack with a bit the request did not offer', () => {
    const req = decodeCoredumpReq(request(COREDUMP_KERNEL | COREDUMP_WAIT));
    expect(() => encodeCoredumpAck(req, COREDUMP_REJECT, false)).toThrow(
      'coredump ack: mask 4 has bits the request did not offer (9)',
    );
  });

  it('refuses to answer a kernel that takes less than a 16-byte ack', () => {
    const req = decodeCoredumpReq(request(ALL, 8));
    expect(() => encodeCoredumpAck(req, COREDUMP_REJECT, false)).toThrow(
      'coredump ack: the kernel accepts only 8 bytes',
    );
  });
});

describe('--core-rate', () => {
  it('reads N/MIN, N/S and N/H', () => {
    expect(parseCoreRate('10/min')).toEqual({ ratePerExe: 10, rateWindowMs: 60_000 });
    expect(parseCoreRate('2/s')).toEqual({ ratePerExe: 2, rateWindowMs: 1000 });
    expect(parseCoreRate('100/H')).toEqual({ ratePerExe: 100, rateWindowMs: 3_600_000 });
  });

  it('names the bad value', () => {
    expect(() => parseCoreRate('ten')).toThrow('--core-rate "ten": expected N/MIN, N/S or N/H');
  });
});
