/**
 * The exit watcher's thread: a synchronous loop around ExitWatcher (ingest/watcher.ts) that
 * blocks in `epoll_wait` until the kernel reports a notice or a hang-up, handles it, and hands
 * raw exit records to the main thread in batches. Messages and shared counters are defined in
 * ingest/watcher-protocol.ts.
 *
 * The loop never returns to this thread's event loop, so nothing here waits on a timer or a
 * message event: the wait's timeout is computed from the batch linger and the zombie sweep,
 * and commands are read with `receiveMessageOnPort` whenever the main thread has counted one
 * in shared memory. Coredump links are read before every exit record is written, so a link
 * posted before the crashing process could exit is always found (COREDUMP_WAIT holds the
 * process until the Coredump event is out and linked).
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';

import { setThreadName } from '../native/libc.js';
import {
  type RawExit,
  RawExitWriter,
  SOURCE_PIDFD,
  SOURCE_PROC_CONNECTOR,
  SOURCE_ZOMBIE_TIMEOUT,
} from '../workers/protocol.js';
import { Redactor } from './redaction.js';
import { ExitWatcher } from './watcher.js';
import {
  COUNTER,
  type FromWatcher,
  SHARED_COMMANDS,
  sharedViews,
  type ToWatcher,
  WATCHER_THREAD_NAME,
  type WatcherThreadData,
} from './watcher-protocol.js';

class WatcherLoop {
  readonly watcher: ExitWatcher;
  readonly #data: WatcherThreadData;
  readonly #head: Int32Array;
  readonly #counters: Float64Array;
  readonly #writer = new RawExitWriter();
  /** performance.now() at the current batch's first record. */
  #firstAt = 0;
  #stopping = false;
  #wakes = 0;
  readonly #bySource = [0, 0, 0];

  constructor(data: WatcherThreadData) {
    this.#data = data;
    const views = sharedViews(data.shared);
    this.#head = views.head;
    this.#counters = views.counters;
    this.watcher = new ExitWatcher(
      {
        exit: (record) => this.#exit(record),
        beforeExit: () => this.#takeCommands(),
        overflow: (found) => post({ type: 'overflow', found }),
        degraded: (feature, since, detail) => post({ type: 'degraded', feature, since, detail }),
      },
      {
        redactor: new Redactor(data.redactionRules),
        zombieTimeoutMs: data.zombieTimeoutMs,
        wakeFd: data.wakeFd,
        log: {
          info: (fields, msg) => post({ type: 'log', level: 'info', fields, msg }),
          warn: (fields, msg) => post({ type: 'log', level: 'warn', fields, msg }),
        },
      },
    );
  }

  /** Scans /proc, then watches until told to stop. */
  run(): void {
    const found = this.watcher.start();
    this.#publish();
    post({ type: 'started', found });
    while (!this.#stopping) {
      let ready: number;
      try {
        ready = this.watcher.wait(this.#timeoutMs());
      } catch (err) {
        post({ type: 'failed', message: err instanceof Error ? err.message : String(err) });
        break;
      }
      this.#turn(ready);
    }
    // Everything the kernel reported before the stop was asked for is still handled, so an
    // exit reaped just before SIGTERM is not missing from the files.
    this.#turn(this.#stopping ? this.watcher.wait(0) : 0);
    this.watcher.finish();
    this.#flush();
    this.watcher.close();
    this.#publish();
  }

  #turn(ready: number): void {
    this.#wakes++;
    try {
      this.watcher.handle(ready);
    } catch (err) {
      post({ type: 'log', level: 'error', fields: { err }, msg: 'exit watcher wake failed' });
    }
    this.#takeCommands();
    const count = this.#writer.count;
    if (
      count >= this.#data.batchSize ||
      (count > 0 && performance.now() - this.#firstAt >= this.#data.batchLingerMs)
    ) {
      this.#flush();
    }
    this.#publish();
  }

  /** Until the batch is due or the watcher's own timed work is. */
  #timeoutMs(): number {
    const due = this.watcher.msUntilDue();
    if (this.#writer.count === 0) return due;
    const lingerLeft = this.#firstAt + this.#data.batchLingerMs - performance.now();
    return Math.min(due, Math.max(0, Math.ceil(lingerLeft)));
  }

  #exit(record: RawExit): void {
    if (this.#writer.count === 0) this.#firstAt = performance.now();
    this.#writer.write(record);
    this.#bySource[record.source] = (this.#bySource[record.source] ?? 0) + 1;
  }

  #flush(): void {
    const count = this.#writer.count;
    if (count === 0) return;
    const batch = this.#writer.finish();
    post({ type: 'batch', batch, count }, [batch]);
  }

  #takeCommands(): void {
    if (Atomics.load(this.#head, SHARED_COMMANDS) === 0) return;
    for (;;) {
      const received = receiveMessageOnPort(this.#data.commands);
      if (received === undefined) return;
      Atomics.sub(this.#head, SHARED_COMMANDS, 1);
      const command = received.message as ToWatcher;
      if (command.type === 'stop') this.#stopping = true;
      else if (command.type === 'link-coredump') {
        this.watcher.linkCoredump(command.pid, command.pidfsIno, command.seq);
      }
    }
  }

  #publish(): void {
    const c = this.#counters;
    const w = this.watcher.counters;
    c[COUNTER.wakes] = this.#wakes;
    c[COUNTER.watched] = this.watcher.table.watched;
    c[COUNTER.notices] = w.notices;
    c[COUNTER.forks] = w.forks;
    c[COUNTER.execs] = w.execs;
    c[COUNTER.lostRaces] = w.lostRaces;
    c[COUNTER.zombies] = w.zombies;
    c[COUNTER.overflows] = w.overflows;
    c[COUNTER.fdLimit] = w.fdLimit;
    c[COUNTER.reapedBeforeNotice] = w.reapedBeforeNotice;
    c[COUNTER.exitsPidfd] = this.#bySource[SOURCE_PIDFD] ?? 0;
    c[COUNTER.exitsProcConnector] = this.#bySource[SOURCE_PROC_CONNECTOR] ?? 0;
    c[COUNTER.exitsZombieTimeout] = this.#bySource[SOURCE_ZOMBIE_TIMEOUT] ?? 0;
  }
}

const port = parentPort;
if (port === null) throw new Error('ingest/watcher-thread.js runs only as a worker thread');

function post(msg: FromWatcher, transfer?: ArrayBuffer[]): void {
  port?.postMessage(msg, transfer);
}

setThreadName(WATCHER_THREAD_NAME);
const data = workerData as WatcherThreadData;
const loop = new WatcherLoop(data);
post({ type: 'ready', features: loop.watcher.features });
// 'start' is the one command read as an event: the loop has not begun yet.
data.commands.once('message', (command: ToWatcher) => {
  if (command.type === 'start') {
    loop.run();
  } else {
    loop.watcher.close();
  }
  data.commands.close();
});
