/**
 * Core-dump analysis for the coredump server, in two calls around one pass over the stream:
 *
 *   let plan = planCore(head);              // repeat with more head bytes while `needHead`
 *   ... keep the `plan.ranges` bytes as the core streams by ...
 *   const analysis = analyseCore(head, kept, coreSize, truncated);
 *
 * Both run the parser in WebAssembly (see wasm.ts) and never throw: a malformed, truncated or
 * hostile core yields an analysis with `analysis_error` set.
 */
import { crashSignature } from './signature.js';
import { AnalyserInstance, describeFailure, MEMORY_CAP_BYTES } from './wasm.js';

export { SIGNATURE_FRAMES } from './signature.js';
export { MEMORY_CAP_BYTES, memoryHighWater } from './wasm.js';

export interface CoreRange {
  offset: number;
  length: number;
}

export type CorePlan = { needHead: number } | { ranges: CoreRange[] };

export interface CoreModule {
  path: string;
  start: number;
  end: number;
  build_id: string | null;
  package: string | null;
}

export type FrameMethod = 'PC' | 'FRAME_POINTER' | 'STACK_SCAN';

export interface CoreFrame {
  module: string | null;
  build_id: string | null;
  offset: number;
  method: FrameMethod;
}

/** Field names follow the `Coredump` Avro schema. */
export interface CoreAnalysis {
  signal: number | null;
  si_code: number | null;
  fault_address: number | null;
  thread_count: number | null;
  crashing_tid: number | null;
  /** From NT_PRPSINFO: the process id and task name as the dumping kernel saw them. */
  pid: number | null;
  comm: string | null;
  modules: CoreModule[];
  backtrace: CoreFrame[];
  signature: string | null;
  analysis_error: string | null;
}

/** The analyser's caps, for sizing what the stream keeps. */
export interface AnalyserCaps {
  /** planCore never asks for a longer head. */
  maxHeadBytes: number;
  /** The planned ranges never total more. */
  maxRangeBytes: number;
  /** The module's linear memory never grows past this. */
  memoryCapBytes: number;
}

let caps: AnalyserCaps | undefined;

export function analyserCaps(): AnalyserCaps {
  if (caps === undefined) {
    const wasm = new AnalyserInstance();
    caps = {
      maxHeadBytes: wasm.maxHeadBytes,
      maxRangeBytes: wasm.maxRangeBytes,
      memoryCapBytes: MEMORY_CAP_BYTES,
    };
  }
  return caps;
}

const METHODS: readonly FrameMethod[] = ['PC', 'FRAME_POINTER', 'STACK_SCAN'];
const NULL_LEN = 0xffffffff;
const decoder = new TextDecoder();

/**
 * What the analysis needs from the stream. Call it with the first bytes of the core (64 are
 * enough to start); while it answers `needHead`, call it again once that many bytes have
 * arrived. The ranges are sorted by offset and total at most MAX_RANGE_BYTES
 * (workers/analyser/assembly/plan.ts); bytes already in the head need not be passed again.
 * When the stream ends before the head is complete, go straight to analyseCore with
 * `truncated` set. A core the module cannot read yields no ranges.
 */
export function planCore(head: Uint8Array): CorePlan {
  let wasm: AnalyserInstance | undefined;
  try {
    wasm = new AnalyserInstance();
    return planIn(wasm, head);
  } catch {
    // A core the module fails on gets no ranges; analyseCore meets the same failure on the
    // same head and reports it in analysis_error.
    return { ranges: [] };
  } finally {
    wasm?.release();
  }
}

function planIn(wasm: AnalyserInstance, head: Uint8Array): CorePlan {
  const headLen = Math.min(head.length, wasm.maxHeadBytes);
  const out = wasm.result(wasm.exports.plan(wasm.put(head.subarray(0, headLen)), headLen));
  const needHead = out.getUint32(4, true);
  if (needHead !== 0) return { needHead };
  const count = out.getUint32(8, true);
  const ranges: CoreRange[] = [];
  for (let i = 0, o = 12; i < count; i++, o += 12) {
    ranges.push({ offset: Number(out.getBigUint64(o, true)), length: out.getUint32(o + 8, true) });
  }
  return { ranges };
}

/**
 * Analyses a core from its head and the ranges planCore asked for. `coreSize` is the number of
 * bytes the stream delivered; `truncated` says the core was cut (size cap or early end).
 */
export function analyseCore(
  head: Uint8Array,
  ranges: { offset: number; bytes: Uint8Array }[],
  coreSize: number,
  truncated: boolean,
): CoreAnalysis {
  let wasm: AnalyserInstance | undefined;
  try {
    wasm = new AnalyserInstance();
    return analyseIn(wasm, head, ranges, coreSize, truncated);
  } catch (err) {
    return failedAnalysis(describeFailure(err));
  } finally {
    wasm?.release();
  }
}

function analyseIn(
  wasm: AnalyserInstance,
  head: Uint8Array,
  ranges: { offset: number; bytes: Uint8Array }[],
  coreSize: number,
  truncated: boolean,
): CoreAnalysis {
  const headLen = Math.min(head.length, wasm.maxHeadBytes);
  const headAt = wasm.put(head.subarray(0, headLen));
  const entries = ranges.map((r) => ({
    offset: r.offset,
    at: wasm.put(r.bytes),
    length: r.bytes.length,
  }));
  const table = wasm.putTable(entries);
  const flag = truncated ? 1 : 0;
  const at = wasm.exports.analyse(headAt, headLen, table, entries.length, coreSize, flag);
  return decodeAnalysis(wasm.result(at));
}

/** The analysis of a core that could not be analysed at all. */
export function failedAnalysis(error: string): CoreAnalysis {
  return {
    signal: null,
    si_code: null,
    fault_address: null,
    thread_count: null,
    crashing_tid: null,
    pid: null,
    comm: null,
    modules: [],
    backtrace: [],
    signature: null,
    analysis_error: error,
  };
}

/** Reads the result layout documented in assembly/index.ts. */
class ResultReader {
  #at = 4;

  constructor(readonly view: DataView) {}

  u32(): number {
    const v = this.view.getUint32(this.#at, true);
    this.#at += 4;
    return v;
  }

  i32(): number {
    const v = this.view.getInt32(this.#at, true);
    this.#at += 4;
    return v;
  }

  /** An i64 the module checked fits a safe integer. */
  i64(): number {
    const v = Number(this.view.getBigInt64(this.#at, true));
    this.#at += 8;
    return v;
  }

  text(): string | null {
    const len = this.u32();
    if (len === NULL_LEN) return null;
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + this.#at, len);
    this.#at += len;
    return decoder.decode(bytes);
  }
}

function decodeAnalysis(view: DataView): CoreAnalysis {
  const r = new ResultReader(view);
  const bits = r.u32();
  const has = (bit: number): boolean => (bits & bit) !== 0;
  const signal = r.i32();
  const siCode = r.i32();
  const fault = r.i64();
  const threads = r.i32();
  const tid = r.i32();
  const pid = r.i32();
  const comm = r.text();
  const exe = r.i32();

  const modules: CoreModule[] = [];
  for (let i = r.u32(); i > 0; i--) {
    const path = r.text() ?? '';
    const start = r.i64();
    const end = r.i64();
    modules.push({ path, start, end, build_id: r.text(), package: r.text() });
  }
  const backtrace: CoreFrame[] = [];
  for (let i = r.u32(); i > 0; i--) {
    const mod = modules[r.i32()];
    const offset = r.i64();
    const method = METHODS[r.u32()] ?? 'STACK_SCAN';
    backtrace.push({ module: mod?.path ?? null, build_id: mod?.build_id ?? null, offset, method });
  }
  const error = r.text();

  const result: CoreAnalysis = {
    signal: has(1) ? signal : null,
    si_code: has(2) ? siCode : null,
    fault_address: has(4) ? fault : null,
    thread_count: has(8) ? threads : null,
    crashing_tid: has(16) ? tid : null,
    pid: has(32) ? pid : null,
    comm,
    modules,
    backtrace,
    signature: null,
    analysis_error: error,
  };
  result.signature = crashSignature(modules[exe] ?? null, result.signal, backtrace);
  return result;
}
