// A raw backtrace of the crashing thread, from its registers and a window of its stack.
import { Bytes } from './bytes';
import { Core } from './core';
import { Module, moduleAt } from './modules';

/** Frames beyond this many are not looked for. */
export const MAX_FRAMES: i32 = 64;

export const METHOD_PC: u32 = 0;
export const METHOD_FRAME_POINTER: u32 = 1;
export const METHOD_STACK_SCAN: u32 = 2;

export class Frame {
  constructor(
    public addr: u64,
    public method: u32,
  ) {}
}

/** The dumped stack bytes [base, base + bytes.len) of the crashing thread. */
export class Stack {
  constructor(
    public base: u64,
    public bytes: Bytes,
  ) {}

  /** The word at `addr`; the caller has checked `holds(addr, 8)`. */
  word(addr: u64): u64 {
    return this.bytes.u64(<u32>(addr - this.base));
  }

  holds(addr: u64, n: u64): bool {
    return addr >= this.base && this.bytes.has(addr - this.base, n);
  }
}

/**
 * Frame 0 is the program counter. Then the rbp chain is followed while each link stays in the
 * stack window, is 8-byte aligned and moves up the stack, and each return address lies in
 * executable memory. When the chain yields no frame at all (code built without frame pointers
 * uses rbp as a general register), the window is scanned instead for words that point into an
 * executable mapping of a module. A chain that breaks after some frames usually broke where it
 * entered such code near the bottom of the stack (a C library's start-up), and a scan from
 * there finds stale words rather than callers, so it is not scanned.
 */
export function backtrace(core: Core, modules: Module[], stack: Stack | null): Frame[] {
  const frames: Frame[] = [new Frame(core.rip, METHOD_PC)];
  if (stack == null) return frames;

  let fp = core.rbp;
  while (frames.length < MAX_FRAMES && fp != 0) {
    if ((fp & 7) != 0 || !stack.holds(fp, 16)) break;
    const next = stack.word(fp);
    const ret = stack.word(fp + 8);
    if (!core.executable(ret)) break;
    frames.push(new Frame(ret, METHOD_FRAME_POINTER));
    if (next != 0 && next <= fp) break;
    fp = next;
  }
  if (frames.length > 1) return frames;

  for (let at = stack.base; stack.holds(at, 8) && frames.length < MAX_FRAMES; at += 8) {
    const v = stack.word(at);
    if (core.executable(v) && moduleAt(modules, v) >= 0) {
      frames.push(new Frame(v, METHOD_STACK_SCAN));
    }
  }
  return frames;
}
