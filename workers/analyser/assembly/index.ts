// The core analyser, compiled to WebAssembly. The host instantiates it once per task with an
// imported memory whose maximum is the hard cap, copies the core's head and the planned ranges
// in through `alloc`, and reads one result buffer back. Layouts of the inputs and results are
// below; workers/analyser/wasm.ts reads the same layouts.
import { backtrace, Frame, Stack } from './backtrace';
import { Bytes, fitsLong } from './bytes';
import { Core, parseCore } from './core';
import { buildModules, Module, moduleAt, readModuleHeader } from './modules';
import { Output } from './output';
import { KIND_MODULE, KIND_STACK, planRanges, Range } from './plan';
import { Problems } from './problems';

export { MAX_HEAD_BYTES } from './core';
export { MAX_RANGE_BYTES } from './plan';

// siginfo.h: the signals whose si_addr is the faulting address (the _sigfault union member).
const SIGILL: i32 = 4;
const SIGTRAP: i32 = 5;
const SIGBUS: i32 = 7;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;

/** Room for `size` bytes of input, written by the host. */
export function alloc(size: u32): usize {
  return heap.alloc(<usize>size);
}

class Parsed {
  constructor(
    public core: Core,
    public modules: Module[],
    public exe: i32,
    public ranges: Range[],
  ) {}
}

/** `partial`: no more head will come, so read what notes there are (analysis, not planning). */
function parse(head: Bytes, problems: Problems, partial: bool): Parsed {
  const core = parseCore(head, problems, partial);
  const modules = buildModules(core, problems);
  let exe = core.atPhdr != 0 ? moduleAt(modules, core.atPhdr) : -1;
  if (exe < 0 && core.atEntry != 0) exe = moduleAt(modules, core.atEntry);
  const ranges = core.needHead == 0 ? planRanges(core, modules, exe, problems) : new Array<Range>();
  return new Parsed(core, modules, exe, ranges);
}

/**
 * Plan result: u32 total length, u32 head bytes still needed (0 when the plan is made), u32
 * range count, then per range u64 core offset and u32 length, sorted by offset.
 */
export function plan(headPtr: usize, headLen: u32): usize {
  const p = parse(new Bytes(headPtr, headLen), new Problems(), false);
  const out = new Output();
  out.u32(<u32>p.core.needHead);
  out.u32(p.ranges.length);
  for (let i = 0; i < p.ranges.length; i++) {
    out.u64(p.ranges[i].offset);
    out.u32(p.ranges[i].length);
  }
  return out.finish();
}

/** The supplied ranges: a table of `count` entries of u64 core offset, u32 pointer, u32 length. */
class Supplied {
  constructor(
    public table: usize,
    public count: u32,
    public head: Bytes,
  ) {}

  /** Bytes of the core from `offset`, up to `length` of them; null when none were supplied. */
  find(offset: u64, length: u32): Bytes | null {
    if (this.head.has(offset, length)) return this.head.sub(<u32>offset, length);
    for (let i: u32 = 0; i < this.count; i++) {
      const e = this.table + i * 16;
      const at = load<u64>(e);
      const got = new Bytes(load<u32>(e + 8), load<u32>(e + 12));
      if (offset < at || offset - at >= <u64>got.len) continue;
      const from = <u32>(offset - at);
      const n = got.len - from < length ? got.len - from : length;
      return got.sub(from, n);
    }
    return null;
  }
}

/**
 * Analysis result, little-endian:
 *   u32 total length, u32 presence bits (1 signal, 2 si_code, 4 fault_address, 8 thread_count,
 *   16 crashing_tid, 32 pid), i32 signal, i32 si_code, i64 fault_address, i32 thread_count,
 *   i32 crashing_tid, i32 pid, bytes comm, i32 index of the executable's module (-1: unknown),
 *   u32 module count, per module: bytes path, i64 start, i64 end, bytes build_id, bytes package;
 *   u32 frame count, per frame: i32 module index (-1: none), i64 offset, u32 method;
 *   bytes analysis_error.
 * `bytes` is a u32 length (0xffffffff for null) and the bytes.
 */
export function analyse(
  headPtr: usize,
  headLen: u32,
  table: usize,
  count: u32,
  coreSize: f64,
  truncated: bool,
): usize {
  const problems = new Problems();
  const head = new Bytes(headPtr, headLen);
  const p = parse(head, problems, true);
  const core = p.core;
  const supplied = new Supplied(table, count, head);

  let stack: Stack | null = null;
  let missing = 0;
  for (let i = 0; i < p.ranges.length; i++) {
    const r = p.ranges[i];
    const bytes = supplied.find(r.offset, r.length);
    if (bytes == null) {
      missing++;
    } else if (r.kind == KIND_STACK) {
      stack = new Stack(r.index, bytes);
    } else if (r.kind == KIND_MODULE) {
      const mod = p.modules[<i32>r.index];
      readModuleHeader(mod, bytes, problems);
    }
  }
  if (missing > 0) {
    const why = truncated
      ? ' (the core was truncated at ' + (<u64>coreSize).toString() + ' bytes)'
      : '';
    problems.add(missing.toString() + ' planned ranges were not supplied' + why);
  }

  const frames = core.hasThread ? backtrace(core, p.modules, stack) : new Array<Frame>();
  return writeAnalysis(p, frames, problems);
}

const NULL_LEN: u32 = 0xffffffff;

function writeAnalysis(p: Parsed, frames: Frame[], problems: Problems): usize {
  const core = p.core;
  const out = new Output();
  const signal = core.hasSiginfo ? core.signo : core.cursig;
  const faultSignal =
    signal == SIGSEGV ||
    signal == SIGBUS ||
    signal == SIGILL ||
    signal == SIGFPE ||
    signal == SIGTRAP;
  const fault = core.hasSiginfo && faultSignal && core.sicode > 0;
  let bits: u32 = 0;
  if (core.hasSiginfo || core.cursig != 0) bits |= 1;
  if (core.hasSiginfo) bits |= 2;
  const faultFits = fitsLong(core.siaddr);
  if (fault && faultFits) bits |= 4;
  if (fault && !faultFits) {
    problems.add('fault address 0x' + core.siaddr.toString(16) + ' does not fit a long');
  }
  if (core.threadCount > 0) bits |= 8;
  if (core.hasThread) bits |= 16;
  if (core.hasPsinfo) bits |= 32;
  out.u32(bits);
  out.i32(signal);
  out.i32(core.sicode);
  out.u64(core.siaddr);
  out.i32(<i32>core.threadCount);
  out.i32(core.tid);
  out.i32(core.pid);
  out.bytes(core.hasPsinfo ? core.comm : null);
  out.i32(p.exe);

  const modules = p.modules;
  out.u32(modules.length);
  for (let i = 0; i < modules.length; i++) {
    const m = modules[i];
    out.bytes(m.path);
    out.u64(m.start);
    out.u64(m.end);
    out.str(m.buildId);
    out.bytes(m.pkg);
  }

  writeFrames(out, modules, frames, problems);
  if (problems.empty) out.u32(NULL_LEN);
  else out.str(problems.toString());
  return out.finish();
}

function writeFrames(out: Output, modules: Module[], frames: Frame[], problems: Problems): void {
  let written: u32 = 0;
  const countAt = out.reserveU32();
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i];
    const mi = moduleAt(modules, f.addr);
    let offset = f.addr;
    if (mi >= 0) {
      // A hostile header page can make the bias nonsense; the mapping start is the fallback.
      offset = f.addr - modules[mi].bias;
      if (!fitsLong(offset)) offset = f.addr - modules[mi].start;
    }
    if (!fitsLong(offset)) {
      problems.add(
        'frame ' + i.toString() + ' at 0x' + f.addr.toString(16) + ' does not fit a long',
      );
      continue;
    }
    out.i32(mi);
    out.u64(offset);
    out.u32(f.method);
    written++;
  }
  out.patchU32(countAt, written);
}
