/**
 * Runs the WebAssembly core analyser (compiled from `assembly/` by `npm run build:wasm`). The
 * module is compiled once per thread; every call gets a fresh instance and a fresh memory whose
 * maximum is MEMORY_CAP_BYTES, so a hostile core can neither grow this thread's heap nor leave
 * state behind for the next core. JavaScript only copies bytes in and the result buffer out.
 */
import { readFileSync } from 'node:fs';

import { PidstreamError } from '../../common/errors.js';
import { distFile } from '../../common/paths.js';

/** Hard cap on the analyser's linear memory: head, ranges, parsed notes and result together. */
export const MEMORY_CAP_BYTES = 64 << 20;
const PAGE_BYTES = 64 << 10;
const INITIAL_PAGES = 16;
/** Longest message kept from an abort inside the module. */
const MAX_ABORT_MESSAGE = 256;

export const WASM_PATH = distFile('workers/analyser/analyser.wasm');

/**
 * The parts of the WebAssembly JS API used here. The project's TypeScript libs (ES2023 and
 * @types/node 20) do not declare the `WebAssembly` global, so this file types what it uses.
 */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: object };
  Memory: new (descriptor: { initial: number; maximum: number }) => WasmMemory;
  RuntimeError: new () => Error;
}
const WebAssembly = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface WasmGlobal {
  value: unknown;
}

interface AnalyserExports {
  alloc(size: number): number;
  plan(head: number, headLen: number): number;
  analyse(
    head: number,
    headLen: number,
    table: number,
    count: number,
    coreSize: number,
    truncated: number,
  ): number;
  MAX_HEAD_BYTES: WasmGlobal;
  MAX_RANGE_BYTES: WasmGlobal;
}

let compiled: object | undefined;

function analyserModule(): object {
  if (compiled === undefined) {
    let bytes: Buffer;
    try {
      bytes = readFileSync(WASM_PATH);
    } catch (err) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_CORE',
        `load the core analyser ${WASM_PATH}: run \`npm run build:wasm\``,
        { cause: err },
      );
    }
    compiled = new WebAssembly.Module(bytes);
  }
  return compiled;
}

let highWater = 0;

/**
 * The largest linear memory any instance in this thread has had, in bytes: the figure that
 * shows the cap holds (it can never exceed MEMORY_CAP_BYTES).
 */
export function memoryHighWater(): number {
  return highWater;
}

/** An abort inside the module (an AssemblyScript `abort`), raised into the calling JavaScript. */
class AnalyserAbort extends Error {}

/** One instance with its own capped memory; used for one call and dropped. */
export class AnalyserInstance {
  readonly memory: WasmMemory;
  readonly #exports: AnalyserExports;

  constructor() {
    this.memory = new WebAssembly.Memory({
      initial: INITIAL_PAGES,
      maximum: MEMORY_CAP_BYTES / PAGE_BYTES,
    });
    const abort = (message: number): never => {
      throw new AnalyserAbort(`analyser aborted: ${this.#asString(message)}`);
    };
    const instance = new WebAssembly.Instance(analyserModule(), {
      env: { memory: this.memory, abort },
    });
    this.#exports = instance.exports as unknown as AnalyserExports;
  }

  /** Records the memory this instance reached; call once its call into the module is over. */
  release(): void {
    highWater = Math.max(highWater, this.memory.buffer.byteLength);
  }

  get maxHeadBytes(): number {
    return this.#exports.MAX_HEAD_BYTES.value as number;
  }

  get maxRangeBytes(): number {
    return this.#exports.MAX_RANGE_BYTES.value as number;
  }

  /** Copies `bytes` into the module's memory and returns their address. */
  put(bytes: Uint8Array): number {
    const at = this.#exports.alloc(bytes.length);
    new Uint8Array(this.memory.buffer, at, bytes.length).set(bytes);
    return at;
  }

  /** Writes the range table: per entry u64 core offset, u32 address, u32 length. */
  putTable(entries: { offset: number; at: number; length: number }[]): number {
    const table = new Uint8Array(entries.length * 16);
    const view = new DataView(table.buffer);
    entries.forEach((e, i) => {
      view.setBigUint64(i * 16, BigInt(e.offset), true);
      view.setUint32(i * 16 + 8, e.at, true);
      view.setUint32(i * 16 + 12, e.length, true);
    });
    return this.put(table);
  }

  get exports(): AnalyserExports {
    return this.#exports;
  }

  /** A copy of the result buffer at `at`, whose first u32 is its total length. */
  result(at: number): DataView {
    const total = new DataView(this.memory.buffer, at, 4).getUint32(0, true);
    return new DataView(this.memory.buffer.slice(at, at + total));
  }

  // AssemblyScript strings are UTF-16 with their byte length in the u32 before them.
  #asString(at: number): string {
    if (at === 0) return '(no message)';
    const bytes = new DataView(this.memory.buffer).getUint32(at - 4, true);
    const units = Math.min(bytes / 2, MAX_ABORT_MESSAGE);
    return String.fromCharCode(...new Uint16Array(this.memory.buffer.slice(at, at + units * 2)));
  }
}

/**
 * What a failed call into the module becomes in `analysis_error`. The module's allocator is the
 * only code that executes `unreachable`, when `memory.grow` is refused at the cap; other traps
 * (an out-of-bounds access, a division by zero) keep the engine's message.
 */
export function describeFailure(err: unknown): string {
  if (err instanceof AnalyserAbort) return err.message;
  if (err instanceof WebAssembly.RuntimeError) {
    if (/unreachable/.test(err.message)) {
      return `analyser reached its ${MEMORY_CAP_BYTES >> 20} MiB memory cap`;
    }
    return `analyser trapped: ${err.message}`;
  }
  return `analyser failed: ${err instanceof Error ? err.message : String(err)}`;
}
