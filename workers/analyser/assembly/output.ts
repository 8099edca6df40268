// The result buffer handed back to the host: a u32 total length, then the fields in the order
// the caller writes them. It lives in the module's own heap, so it counts against the cap.
import { Bytes } from './bytes';

const NULL_LEN: u32 = 0xffffffff;
const INITIAL_BYTES: u32 = 4096;

export class Output {
  private ptr: usize;
  private cap: u32 = INITIAL_BYTES;
  private len: u32 = 4;

  constructor() {
    this.ptr = heap.alloc(INITIAL_BYTES);
  }

  private reserve(n: u32): usize {
    if (this.len + n > this.cap) {
      let cap = this.cap << 1;
      while (cap < this.len + n) cap <<= 1;
      this.ptr = heap.realloc(this.ptr, cap);
      this.cap = cap;
    }
    const at = this.ptr + this.len;
    this.len += n;
    return at;
  }

  u32(v: u32): void {
    store<u32>(this.reserve(4), v);
  }

  i32(v: i32): void {
    store<i32>(this.reserve(4), v);
  }

  u64(v: u64): void {
    store<u64>(this.reserve(8), v);
  }

  /** Room for a u32 written later with `patchU32`; returns its position. */
  reserveU32(): u32 {
    const at = this.len;
    this.u32(0);
    return at;
  }

  patchU32(at: u32, v: u32): void {
    store<u32>(this.ptr + at, v);
  }

  bytes(b: Bytes | null): void {
    if (b == null) {
      this.u32(NULL_LEN);
      return;
    }
    this.u32(b.len);
    memory.copy(this.reserve(b.len), b.ptr, b.len);
  }

  str(s: string | null): void {
    if (s == null) {
      this.u32(NULL_LEN);
      return;
    }
    const utf8 = String.UTF8.encode(s);
    this.bytes(new Bytes(changetype<usize>(utf8), <u32>utf8.byteLength));
  }

  /** Writes the total length and returns the buffer's address. */
  finish(): usize {
    store<u32>(this.ptr, this.len);
    return this.ptr;
  }
}
