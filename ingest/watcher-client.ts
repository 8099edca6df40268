/**
 * The main thread's side of the exit watcher: starts its thread (ingest/watcher-thread.ts),
 * passes on what it reports, and reads its counters from shared memory. Commands are posted
 * on their own port, counted in shared memory and announced on the wake eventfd, which this
 * side owns: the thread reads them even while it is blocked in epoll_wait.
 */
import { MessageChannel, type MessagePort, Worker } from 'node:worker_threads';

import { distFile } from '../common/paths.js';
import type { Logger } from '../common/log.js';
import { close, eventfd, write } from '../native/libc.js';
import type { RedactionRule } from './redaction.js';
import type { WatcherFeatures } from './watcher.js';
import {
  COUNTER,
  COUNTER_NAMES,
  type CounterName,
  type FromWatcher,
  SHARED_BYTES,
  SHARED_COMMANDS,
  sharedViews,
  type ToWatcher,
  type WatcherThreadData,
} from './watcher-protocol.js';

export interface WatcherClientHooks {
  /** `count` raw exit records, transferred; batches arrive in the order the exits were seen. */
  batch(batch: ArrayBuffer, count: number): void;
  overflow(rescanFound: number): void;
  degraded(feature: string, since: string, detail: string): void;
  /** The watcher stopped on its own (epoll_wait failed, or the thread died). */
  failed(reason: string): void;
}

export interface WatcherClientOptions {
  redactionRules: readonly RedactionRule[];
  zombieTimeoutMs: number;
  batchSize: number;
  batchLingerMs: number;
  log: Logger;
}

/**
 * Young generation of the watcher thread's V8 heap. The thread holds the process table (10,000
 * watched processes add 2–5 MB to the agent) and one batch; at this size it collects about
 * twice a second under full churn (bench:exits with --trace-gc) and stays near 10 MB.
 */
const THREAD_YOUNG_GENERATION_MB = 4;

export class WatcherClient {
  readonly features: WatcherFeatures;
  readonly #worker: Worker;
  readonly #commands: MessagePort;
  readonly #head: Int32Array;
  readonly #counters: Float64Array;
  readonly #wakeFd: number;
  readonly #wakeValue = Buffer.alloc(8);
  #started: ((found: number) => void) | null = null;
  /**
   * The thread is gone. Node dispatches every message a worker posted before it emits 'exit',
   * so by then every batch has been handed on.
   */
  readonly #stopped: Promise<void>;
  #running = false;

  private constructor(
    worker: Worker,
    commands: MessagePort,
    shared: SharedArrayBuffer,
    wakeFd: number,
    features: WatcherFeatures,
  ) {
    this.#worker = worker;
    this.#commands = commands;
    const views = sharedViews(shared);
    this.#head = views.head;
    this.#counters = views.counters;
    this.#wakeFd = wakeFd;
    this.#wakeValue.writeBigUInt64LE(1n, 0);
    this.features = features;
    this.#stopped = new Promise((resolve) => worker.once('exit', () => resolve()));
  }

  /** Starts the thread; resolves once it has subscribed to the connector and probed the kernel. */
  static async spawn(
    opts: WatcherClientOptions,
    hooks: WatcherClientHooks,
  ): Promise<WatcherClient> {
    const wakeFd = eventfd();
    const shared = new SharedArrayBuffer(SHARED_BYTES);
    const { port1, port2 } = new MessageChannel();
    const data: WatcherThreadData = {
      redactionRules: opts.redactionRules,
      zombieTimeoutMs: opts.zombieTimeoutMs,
      batchSize: opts.batchSize,
      batchLingerMs: opts.batchLingerMs,
      wakeFd,
      shared,
      commands: port2,
    };
    const worker = new Worker(distFile('ingest/watcher-thread.js'), {
      workerData: data,
      transferList: [port2],
      resourceLimits: { maxYoungGenerationSizeMb: THREAD_YOUNG_GENERATION_MB },
    });
    let client: WatcherClient | null = null;
    const features = await new Promise<WatcherFeatures>((resolve, reject) => {
      worker.on('message', (msg: FromWatcher) => {
        if (msg.type === 'ready') resolve(msg.features);
        else if (client !== null) client.#message(msg, hooks, opts.log);
      });
      worker.once('error', (err) => {
        reject(err);
        if (client !== null && client.#running) {
          client.#running = false;
          opts.log.error({ err }, 'exit watcher thread failed');
          hooks.failed(err.message);
        }
      });
      worker.once('exit', (code) => reject(new Error(`exit watcher thread exited with ${code}`)));
    }).catch((err: unknown) => {
      close(wakeFd);
      throw err;
    });
    client = new WatcherClient(worker, port1, shared, wakeFd, features);
    return client;
  }

  #message(msg: FromWatcher, hooks: WatcherClientHooks, log: Logger): void {
    switch (msg.type) {
      case 'batch':
        hooks.batch(msg.batch, msg.count);
        break;
      case 'started':
        this.#started?.(msg.found);
        break;
      case 'overflow':
        hooks.overflow(msg.found);
        break;
      case 'degraded':
        hooks.degraded(msg.feature, msg.since, msg.detail);
        break;
      case 'log':
        log[msg.level](msg.fields, msg.msg);
        break;
      case 'failed':
        this.#running = false;
        log.error({ reason: msg.message }, 'epoll_wait failed; the exit watcher stops');
        hooks.failed(msg.message);
        break;
      default:
        break;
    }
  }

  /** Counters the watcher thread publishes after every wake. */
  counter(name: CounterName): number {
    return this.#counters[COUNTER[name]] ?? 0;
  }

  counters(): Record<CounterName, number> {
    return Object.fromEntries(COUNTER_NAMES.map((name) => [name, this.counter(name)])) as Record<
      CounterName,
      number
    >;
  }

  /** Scans /proc and starts watching; resolves with how many processes the scan found. */
  start(): Promise<number> {
    const started = new Promise<number>((resolve) => {
      this.#started = resolve;
    });
    this.#running = true;
    // 'start' is read by the thread as a message event, before its loop begins.
    this.#commands.postMessage({ type: 'start' } satisfies ToWatcher);
    return started;
  }

  /**
   * The thread reads the link before it writes any further exit record: called before the
   * coredump connection is closed, it reaches the watcher before the process can exit.
   */
  linkCoredump(pid: number, pidfsIno: number, seq: number): void {
    if (this.#running) this.#command({ type: 'link-coredump', pid, pidfsIno, seq });
  }

  /**
   * Ends the watch: the thread handles everything the kernel reported before, hands on its
   * last batch, closes its fds and ends. Resolves once the thread is gone.
   */
  async stop(): Promise<void> {
    if (this.#running) {
      this.#running = false;
      this.#command({ type: 'stop' });
    } else {
      this.#commands.postMessage({ type: 'stop' } satisfies ToWatcher);
    }
    await this.#stopped;
    this.#commands.close();
    close(this.#wakeFd);
  }

  #command(command: ToWatcher): void {
    this.#commands.postMessage(command);
    Atomics.add(this.#head, SHARED_COMMANDS, 1);
    write(this.#wakeFd, this.#wakeValue);
  }
}
