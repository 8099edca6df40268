// Which byte ranges of the core, past its notes, the analysis reads: the crashing thread's
// stack and the ELF header page of every module. The core is streamed once, so the plan is
// made from the notes alone and fixed before the stream reaches those ranges.
import { Core } from './core';
import { HEADER_PAGE_BYTES, Module } from './modules';
import { Problems } from './problems';

/** Bytes of the crashing thread's stack read upward from its stack pointer. */
export const STACK_WINDOW_BYTES: u64 = 128 << 10;
/** Total bytes of all planned ranges: the stack window first, then module header pages. */
export const MAX_RANGE_BYTES: u32 = 4 << 20;
/** Core offsets past this are never planned (no core that large is streamed). */
const MAX_CORE_OFFSET: u64 = 1 << 52;

export const KIND_STACK: u32 = 0;
export const KIND_MODULE: u32 = 1;

export class Range {
  constructor(
    public offset: u64,
    public length: u32,
    public kind: u32,
    /** For a module range, the module's index; for the stack, the address of its first byte. */
    public index: u64,
  ) {}
}

/**
 * The core bytes that hold [addr, addr + want) of memory, cut to what the segment dumped;
 * null when the address was not dumped at all.
 */
function dumped(core: Core, addr: u64, want: u64, kind: u32, index: u64): Range | null {
  const s = core.segmentAt(addr);
  if (s == null) return null;
  const into = addr - s.vaddr;
  if (into >= s.filesz) return null;
  const avail = s.filesz - into;
  const length = want < avail ? want : avail;
  const offset = s.offset + into;
  if (offset < s.offset || offset > MAX_CORE_OFFSET || length > MAX_CORE_OFFSET - offset) {
    return null;
  }
  return new Range(offset, <u32>length, kind, index);
}

/**
 * Where the stack window starts: the stack pointer, or, when a stack overflow left the stack
 * pointer in the guard gap below the stack, the bottom of the mapping just above it.
 */
function stackStart(core: Core): u64 {
  const sp = core.rsp & ~(<u64>7);
  if (core.segmentAt(sp) != null) return sp;
  const above = core.segmentAbove(sp);
  if (above != null && above.vaddr - sp <= STACK_WINDOW_BYTES) return above.vaddr;
  return sp;
}

function byOffset(a: Range, b: Range): i32 {
  return a.offset < b.offset ? -1 : a.offset > b.offset ? 1 : 0;
}

export function planRanges(core: Core, modules: Module[], exe: i32, problems: Problems): Range[] {
  const ranges: Range[] = [];
  let budget = <u64>MAX_RANGE_BYTES;

  if (core.hasThread) {
    const sp = stackStart(core);
    const stack = dumped(core, sp, STACK_WINDOW_BYTES, KIND_STACK, sp);
    if (stack == null)
      problems.add('the stack pointer 0x' + core.rsp.toString(16) + ' is not in dumped memory');
    else {
      ranges.push(stack);
      budget -= <u64>stack.length;
    }
  }

  let skipped = 0;
  for (let n = -1; n < modules.length; n++) {
    // The executable first, so its build-id survives the budget.
    if (n == exe) continue;
    const i = n < 0 ? exe : n;
    if (i < 0) continue;
    const mod = modules[i];
    if (mod.headerAddr == 0) continue;
    const r = dumped(core, mod.headerAddr, HEADER_PAGE_BYTES, KIND_MODULE, <u64>i);
    if (r == null) continue;
    if (<u64>r.length > budget) {
      skipped++;
      continue;
    }
    ranges.push(r);
    budget -= <u64>r.length;
  }
  if (skipped > 0)
    problems.add(skipped.toString() + ' module header pages past the range cap not read');
  ranges.sort(byOffset);
  return ranges;
}
