/**
 * The main thread's side of one reader thread (reader-thread.ts): starts a core's read, hands
 * each chunk to the connection that owns it, and gives a slot back once every holder of its
 * chunk is done with it (the analysis and, for a stored core, the compressor).
 */
import { Worker } from 'node:worker_threads';

import { PidstreamError } from '../../common/errors.js';
import { distFile } from '../../common/paths.js';
import { SHUT_RD } from '../../native/libc.js';
import { shutdownQuiet } from '../../native/quiet.js';
import type { SharedRanges } from './ranges.js';
import {
  ALL_SLOTS_FREE,
  CONTROL_BELL,
  CONTROL_FREE,
  CONTROL_KEEP,
  CONTROL_STOP,
  CONTROL_WORDS,
  type FromReader,
  type Kept,
  READ_CHUNK_BYTES,
  READ_SLOTS,
  type ReaderThreadData,
  type ToReader,
} from './reader-protocol.js';

const NOTHING_KEPT: Kept = { bytes: 0, truncated: false };

/** Where a reader delivers one core. */
export interface CoreSink {
  /**
   * The next bytes of the core, in one of the reader's slots: valid until `release(slot)` has
   * been called once for it and once more for every `retain(slot)`.
   */
  onChunk(slot: number, chunk: Buffer): void;
  /**
   * The stream ended (the peer closed it, or after `stop`), or failed with `err`. `kept` is
   * what the thread took itself after a `keep` (no bytes when there was none).
   */
  onEnd(err: Error | null, kept: Kept): void;
}

export class CoreReader {
  readonly #worker: Worker;
  readonly #control: Int32Array;
  readonly #slots: Buffer[];
  /** Holders of each slot's chunk; the slot is free again when they reach 0. */
  readonly #holds = new Int32Array(READ_SLOTS);
  /** One release callback per slot, made once, for the compressor's write callbacks. */
  readonly #releasers: (() => void)[];
  #fd = -1;
  /** The number of the current read (ReadCore.core). */
  #core = 0;
  #sink: CoreSink | null = null;
  #online = false;
  /** Settles once the thread has loaded its modules, or is gone. */
  readonly #loaded: Promise<void>;
  #markLoaded: () => void = () => undefined;
  #modulesLoaded = false;
  #dead: Error | null = null;

  /**
   * `onDeath` runs once if the thread exits other than through `close`, with whether it had
   * started (a thread that never started would fail the same way again).
   */
  constructor(onDeath: (reader: CoreReader, started: boolean) => void) {
    const data: ReaderThreadData = {
      slots: new SharedArrayBuffer(READ_SLOTS * READ_CHUNK_BYTES),
      control: new SharedArrayBuffer(CONTROL_WORDS * Int32Array.BYTES_PER_ELEMENT),
    };
    this.#control = new Int32Array(data.control);
    Atomics.store(this.#control, CONTROL_FREE, ALL_SLOTS_FREE);
    this.#slots = Array.from({ length: READ_SLOTS }, (_, i) =>
      Buffer.from(data.slots, i * READ_CHUNK_BYTES, READ_CHUNK_BYTES),
    );
    this.#releasers = this.#slots.map((_, slot) => () => this.release(slot));
    this.#worker = new Worker(distFile('ingest/coredump/reader-thread.js'), { workerData: data });
    this.#worker.unref();
    this.#loaded = new Promise((resolve) => (this.#markLoaded = resolve));
    this.#worker.once('online', () => (this.#online = true));
    this.#worker.on('message', (msg: FromReader) => this.#onMessage(msg));
    this.#worker.on('error', (err) => this.#die(err));
    this.#worker.on('exit', (code) => {
      this.#die(new Error(`the core reader thread exited with code ${code}`));
      onDeath(this, this.#online);
    });
  }

  /** True while a core is being read. */
  get busy(): boolean {
    return this.#sink !== null;
  }

  /** True once the thread has said it loaded its modules (it may be terminated safely). */
  get loaded(): boolean {
    return this.#modulesLoaded;
  }

  /** Why the thread is gone, or null while it runs. */
  get dead(): Error | null {
    return this.#dead;
  }

  /** Reads the core on `fd` (a blocking stream socket) into `sink` until it ends. */
  read(fd: number, sink: CoreSink): void {
    if (this.#sink !== null) throw new Error(`the core reader is busy with fd ${this.#fd}`);
    if (this.#dead !== null) throw this.#dead;
    this.#fd = fd;
    this.#sink = sink;
    this.#core += 1;
    Atomics.store(this.#control, CONTROL_STOP, 0);
    Atomics.store(this.#control, CONTROL_KEEP, 0);
    this.#worker.postMessage({ type: 'read', fd, core: this.#core } satisfies ToReader);
  }

  /**
   * Hands the rest of the current core to the thread: from its next chunk on it copies
   * `ranges` itself and takes at most `maxBytes` of the stream in all, and posts no more
   * chunks. Those already posted still come, to be taken as before; `onEnd` says how many
   * bytes the thread kept after them. A read that ends before the thread sees this keeps none.
   */
  keep(ranges: SharedRanges, maxBytes: number): void {
    if (this.#sink === null) return;
    const msg: ToReader = { type: 'keep', core: this.#core, ranges, maxBytes };
    this.#worker.postMessage(msg);
    // After the message: the thread looks for it once it sees this word.
    Atomics.store(this.#control, CONTROL_KEEP, 1);
  }

  /**
   * Ends the current read early: the thread stops before its next recv, and a recv already
   * waiting returns at once, because the socket's read side is shut (which the kernel's end of
   * the connection sees as a closed reader: the dump stops). `onEnd` follows.
   */
  stop(): void {
    if (this.#sink === null || Atomics.load(this.#control, CONTROL_STOP) !== 0) return;
    Atomics.store(this.#control, CONTROL_STOP, 1);
    this.#ringBell();
    // ENOTCONN: the kernel has closed its end already, and the read ends by itself.
    shutdownQuiet(this.#fd, SHUT_RD);
  }

  /** One more holder of `slot`: it is given back after one more `release`. */
  retain(slot: number): void {
    this.#holds[slot] = (this.#holds[slot] as number) + 1;
  }

  /** The release of `slot` as a callback that takes no notice of its arguments. */
  releaser(slot: number): () => void {
    return this.#releasers[slot] as () => void;
  }

  /** One holder of `slot` is done; the last one gives the slot back to the thread. */
  release(slot: number): void {
    const holds = (this.#holds[slot] as number) - 1;
    this.#holds[slot] = holds;
    if (holds > 0) return;
    Atomics.or(this.#control, CONTROL_FREE, 1 << slot);
    this.#ringBell();
  }

  /**
   * Ends the thread; any read in progress must have ended. A thread still loading its modules
   * is let finish first: terminating it inside koffi's initialisation aborts the process.
   */
  async close(): Promise<void> {
    await this.#loaded;
    this.#worker.removeAllListeners('exit');
    await this.#worker.terminate();
  }

  #ringBell(): void {
    Atomics.add(this.#control, CONTROL_BELL, 1);
    Atomics.notify(this.#control, CONTROL_BELL);
  }

  #onMessage(msg: FromReader): void {
    if (msg.type === 'ready') {
      this.#modulesLoaded = true;
      this.#markLoaded();
      return;
    }
    const sink = this.#sink;
    if (sink === null) return;
    if (msg.type === 'chunk') {
      this.#holds[msg.slot] = 1;
      sink.onChunk(msg.slot, (this.#slots[msg.slot] as Buffer).subarray(0, msg.bytes));
      return;
    }
    this.#sink = null;
    this.#fd = -1;
    if (msg.type === 'error') {
      sink.onEnd(new PidstreamError('PIDSTREAM_ERR_CORE', msg.message), NOTHING_KEPT);
    } else {
      sink.onEnd(null, msg.kept);
    }
  }

  #die(err: Error): void {
    this.#markLoaded();
    if (this.#dead !== null) return;
    this.#dead = err;
    const sink = this.#sink;
    this.#sink = null;
    sink?.onEnd(err, NOTHING_KEPT);
  }
}
