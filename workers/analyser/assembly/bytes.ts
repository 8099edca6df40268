// Bounded little-endian reads over a span of linear memory. Every read of core bytes goes
// through `has` first: core offsets and sizes are 64-bit values chosen by whoever wrote the
// core, so the checks are done in u64 and never by adding two untrusted numbers.

export class Bytes {
  constructor(
    public ptr: usize,
    public len: u32,
  ) {}

  /** True when [off, off + n) lies inside the span. */
  has(off: u64, n: u64): bool {
    const len = <u64>this.len;
    return off <= len && n <= len - off;
  }

  u8(off: u32): u32 {
    return <u32>load<u8>(this.ptr + off);
  }

  u16(off: u32): u32 {
    return <u32>load<u16>(this.ptr + off);
  }

  u32(off: u32): u32 {
    return load<u32>(this.ptr + off);
  }

  i32(off: u32): i32 {
    return load<i32>(this.ptr + off);
  }

  u64(off: u32): u64 {
    return load<u64>(this.ptr + off);
  }

  /** The sub-span [off, off + n); the caller has checked `has(off, n)`. */
  sub(off: u32, n: u32): Bytes {
    return new Bytes(this.ptr + off, n);
  }

  /** Length of the NUL-terminated string at `off`, or -1 when no NUL comes before the end. */
  cstrlen(off: u32): i32 {
    for (let i = off; i < this.len; i++) {
      if (load<u8>(this.ptr + i) == 0) return <i32>(i - off);
    }
    return -1;
  }

  equals(off: u32, other: Bytes): bool {
    if (!this.has(off, other.len)) return false;
    return memory.compare(this.ptr + off, other.ptr, other.len) == 0;
  }

  /** Lower-case hex of the whole span. */
  hex(): string {
    let out = '';
    for (let i: u32 = 0; i < this.len; i++) {
      const b = load<u8>(this.ptr + i);
      out += HEX.charAt(b >> 4) + HEX.charAt(b & 15);
    }
    return out;
  }
}

const HEX = '0123456789abcdef';

/** Rounds `n` up to a multiple of `align` (a power of two), or returns u64.MAX_VALUE on overflow. */
export function alignUp(n: u64, align: u64): u64 {
  const mask = align - 1;
  if (n > u64.MAX_VALUE - mask) return u64.MAX_VALUE;
  return (n + mask) & ~mask;
}

/** FNV-1a over a span: a cheap key for grouping NT_FILE paths. */
export function fnv1a(b: Bytes): u32 {
  let h: u32 = 0x811c9dc5;
  for (let i: u32 = 0; i < b.len; i++) {
    h = (h ^ load<u8>(b.ptr + i)) * 0x01000193;
  }
  return h;
}

export function hex64(v: u64): string {
  return '0x' + v.toString(16);
}

/**
 * True when `v`, read as a signed 64-bit value, survives the trip to a JavaScript number and an
 * Avro long (avsc accepts integers within about ±2^53; ±2^52 leaves a margin). Kernel addresses
 * such as the vsyscall page read as small negative numbers and fit.
 */
export function fitsLong(v: u64): bool {
  const s = <i64>v;
  return s >= -((<i64>1) << 52) && s <= (<i64>1) << 52;
}
