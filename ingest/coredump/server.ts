/**
 * The coredump socket server. The kernel connects once per crash; for each connection the
 * server runs the steps in order: accept, identify (SO_PEERPIDFD, PIDFD_GET_INFO, /proc while
 * the kernel waits), decide (policy), ack, stream (the core, through the analyser's plan and
 * the optional store), and report.
 *
 * Threading: the Node event loop never blocks. Accepting and the short exchanges before the
 * core (request, ack, mark) use non-blocking reads on an epoll set whose `epoll_wait` runs on a
 * koffi worker thread (`epollWaitAsync`). The core itself, from its first byte, is read by a
 * reader thread (reader-thread.ts) in a synchronous recv(MSG_WAITALL) loop into 1 MiB slots
 * shared with the main thread, which takes the head, the planned ranges and the store's input
 * from the slots in place and gives them back; for a core that is not stored, the planned
 * ranges are handed to the reader thread, which copies them out of the rest of the stream
 * itself (reader-protocol.ts). So the kernel's socket buffer (~200 KiB) drains as fast as a
 * minimal C server drains it, while the plan, the ranges and the compression run on other
 * threads; reads handed one at a time to libuv's pool left the buffer full for the return to
 * the event loop after every chunk (docs/coredumps.md, `npm run bench:cores`).
 * STREAMS_AT_ONCE reader threads start with the server; a crash that finds them all busy waits
 * in the kernel after its ack, as it would behind any single-threaded server.
 */
import { rmSync } from 'node:fs';

import { PidstreamError, SyscallError } from '../../common/errors.js';
import { readBootId } from '../../common/host.js';
import {
  accept,
  close,
  EPOLL_CTL_ADD,
  EPOLL_CTL_DEL,
  EPOLL_EVENT_SIZE,
  EPOLLIN,
  epollCreate,
  epollCtl,
  epollWaitAsync,
  eventfd,
  getsockoptInt,
  MSG_DONTWAIT,
  recv,
  send,
  SO_PEERPIDFD,
  SOCK_CLOEXEC,
  SOL_SOCKET,
  write,
} from '../../native/libc.js';
import {
  COREDUMP_KERNEL,
  COREDUMP_MARK_REQACK,
  COREDUMP_MARK_SIZE,
  COREDUMP_REJECT,
  COREDUMP_REQ_SIZE_MAX,
  COREDUMP_REQ_SIZE_VER0,
  coredumpMarkName,
  decodeCoredumpReq,
  encodeCoredumpAck,
  type CoredumpReq,
} from '../../native/coredump.js';
import {
  decodePidfdInfo,
  PIDFD_COREDUMP_ROOT,
  PIDFD_INFO_COREDUMP,
  PIDFD_INFO_SIZE,
  pidfdGetInfoRaw,
} from '../../native/pidfd.js';
import { listenUnix } from '../../native/unix-socket.js';
import { emptyAnalysis, type CoreAnalyser, type CoreAnalysis } from './analyser.js';
import { CoreRanges, HEAD_INITIAL_BYTES, HEAD_MAX_BYTES } from './ranges.js';
import { CrashCapturer, type CrashCapture } from './capture.js';
import type { CorePolicy, Verdict } from './policy.js';
import { CoreReader, type CoreSink } from './reader.js';
import type { CoreStore, CoreWriter, StoredCore } from './store.js';

/** Crashes handled at once; a crash beyond it is refused and reported. */
export const MAX_CONNECTIONS = 16;
/** How long the analyser may take to plan before the core streams on without ranges. */
export const PLAN_TIMEOUT_MS = 10_000;
/**
 * Cores read at once: one reader thread each (about 10 MiB of memory idle, and its 8 MiB of
 * slots once used; reader-protocol.ts). Two keep both CPUs of the project's machine busy
 * when two processes dump at once.
 */
export const STREAMS_AT_ONCE = 2;
const LISTEN_BACKLOG = 64;
const EPOLL_MAX_EVENTS = 64;
const ID_LISTENER = 0;
const ID_WAKE = 1;

/** `@@` (request, ack, mark, core) or `@` (the core at once). */
export type SocketProtocol = 'ack' | 'plain';

export interface CrashReport {
  /** Wall-clock µs when the kernel connected. */
  timeUs: number;
  pid: number;
  capture: CrashCapture | null;
  verdict: Verdict;
  reason: string;
  /** coredump_mask after the dump (PIDFD_INFO_COREDUMP, Linux 6.16), or null. */
  coredumpMask: number | null;
  coreSize: number;
  truncated: boolean;
  stored: StoredCore | null;
  analysis: CoreAnalysis;
  /** µs from accept to the end of the stream: how long the crashing process was held. */
  blockedUs: number;
}

export interface CoredumpServerOptions {
  socketPath: string;
  protocol: SocketProtocol;
  policy: CorePolicy;
  store: CoreStore | null;
  analyser: CoreAnalyser | null;
  onCrash: (report: CrashReport) => void;
  /**
   * A failure: `fatal` when the epoll loop itself failed and the server no longer takes
   * crashes, otherwise the report of one crash failed.
   */
  onError: (err: Error, fatal: boolean) => void;
}

/**
 * Where a connection is. `request` and `mark` read through the epoll set; from `head` on the
 * core comes from a reader thread: `head` fills the head, `planning` waits for the analyser's
 * plan (the reader reads ahead into its slots meanwhile), `body` keeps the planned ranges,
 * `draining` keeps nothing but the store's copy.
 */
type Phase = 'request' | 'mark' | 'head' | 'planning' | 'body' | 'draining' | 'done';

/** A slot of a reader that the analysis side has not finished with. */
interface PendingChunk {
  slot: number;
  bytes: Buffer;
}

const clockUs = (): number => Number(process.hrtime.bigint() / 1000n);

/** One crash, from accept to report. */
class Connection {
  readonly id: number;
  readonly fd: number;
  readonly acceptedUs = clockUs();
  readonly timeUs = Date.now() * 1000;
  pidfd = -1;
  pid = 0;
  phase: Phase;
  /** In the epoll set (the request and the mark are read through it). */
  watched = false;
  req: CoredumpReq | null = null;
  reqBuf = Buffer.alloc(COREDUMP_REQ_SIZE_MAX);
  reqGot = 0;
  markBuf = Buffer.alloc(COREDUMP_MARK_SIZE);
  markGot = 0;
  capture: CrashCapture | null = null;
  verdict: Verdict = 'ACCEPTED';
  reason = 'accepted';
  /** Bytes taken from the stream, at most the size cap: the core's size once it ended. */
  received = 0;
  /** Bytes of those the analysis side has passed: into the head, then past the ranges. */
  pos = 0;
  truncated = false;
  head = Buffer.allocUnsafe(HEAD_INITIAL_BYTES);
  headWanted = HEAD_INITIAL_BYTES;
  ranges: CoreRanges | null = null;
  analysisNote: string | null = null;
  writer: CoreWriter | null = null;
  /** The reader thread of this core, from the start of its stream. */
  reader: CoreReader | null = null;
  /**
   * Chunks the analysis side has not finished, oldest first; `pendingAt` bytes of the first
   * are.
   */
  pending: PendingChunk[] = [];
  pendingAt = 0;
  /** The reader delivered its last chunk (or failed) and reads the descriptor no more. */
  ended = false;
  /** Resolves when `ended` is set: the descriptor may be closed only then. */
  readEnded: Promise<void> | null = null;
  endedUs = 0;

  constructor(id: number, fd: number, protocol: SocketProtocol) {
    this.id = id;
    this.fd = fd;
    this.phase = protocol === 'ack' ? 'request' : 'head';
  }
}

export class CoredumpServer {
  readonly #o: CoredumpServerOptions;
  /** Set to 'plain' when the kernel took only the `@` form of core_pattern. */
  protocol: SocketProtocol;
  readonly #capturer = new CrashCapturer();
  readonly #conns = new Map<number, Connection>();
  readonly #events = Buffer.alloc(EPOLL_MAX_EVENTS * EPOLL_EVENT_SIZE);
  readonly #scratch = Buffer.alloc(EPOLL_EVENT_SIZE);
  readonly #info = Buffer.alloc(PIDFD_INFO_SIZE);
  #listenFd = -1;
  #epfd = -1;
  #wakeFd = -1;
  #nextId = 2;
  #stopping = false;
  #loopDone: Promise<void> | null = null;
  #pending = new Set<Promise<void>>();
  #readers: CoreReader[] = [];
  /** Accepted cores waiting for a free reader, oldest first. */
  readonly #waiting: Connection[] = [];
  /** Crashes reported, by verdict. */
  readonly counts: Record<Verdict, number> = {
    ACCEPTED: 0,
    REJECTED_SIZE: 0,
    REJECTED_POLICY: 0,
    RATE_LIMITED: 0,
    FAILED: 0,
  };

  constructor(options: CoredumpServerOptions) {
    this.#o = options;
    this.protocol = options.protocol;
  }

  /** Binds and listens; crashes are served from here on. */
  start(): void {
    this.#listenFd = listenUnix(this.#o.socketPath, LISTEN_BACKLOG);
    this.#epfd = epollCreate();
    this.#wakeFd = eventfd();
    epollCtl(this.#epfd, EPOLL_CTL_ADD, this.#listenFd, EPOLLIN, ID_LISTENER, this.#scratch);
    epollCtl(this.#epfd, EPOLL_CTL_ADD, this.#wakeFd, EPOLLIN, ID_WAKE, this.#scratch);
    this.#readers = Array.from({ length: STREAMS_AT_ONCE }, () => this.#newReader());
    this.#loopDone = new Promise((resolve) => this.#poll(resolve));
  }

  /** Stops accepting, lets the crashes in flight finish (at most `graceMs`), closes. */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.#listenFd < 0) return;
    this.#stopping = true;
    const deadline = Date.now() + graceMs;
    while ((this.#conns.size > 0 || this.#pending.size > 0) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    write(this.#wakeFd, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]));
    await this.#loopDone;
    for (const conn of this.#conns.values()) this.#fail(conn, 'the agent stopped');
    await Promise.all(this.#pending);
    await Promise.all(this.#readers.map((reader) => reader.close()));
    this.#readers = [];
    close(this.#listenFd);
    rmSync(this.#o.socketPath, { force: true });
    close(this.#wakeFd);
    close(this.#epfd);
    this.#listenFd = -1;
  }

  /**
   * A reader thread. The core it was reading when it died fails; a thread that had started is
   * replaced, one that never started is not (its successor would fail the same way).
   */
  #newReader(): CoreReader {
    return new CoreReader((dead, started) => {
      if (this.#stopping) return;
      const i = this.#readers.indexOf(dead);
      if (started && i >= 0) this.#readers[i] = this.#newReader();
      this.#streamWaiting();
    });
  }

  #poll(done: () => void): void {
    epollWaitAsync(this.#epfd, this.#events, -1, (err, count) => {
      if (err !== null) {
        this.#o.onError(err, true);
        return done();
      }
      for (let i = 0; i < count; i++) {
        const id = this.#events.readUInt32LE(i * EPOLL_EVENT_SIZE + 4);
        if (id === ID_WAKE) return done();
        if (id === ID_LISTENER) this.#acceptAll();
        else {
          const conn = this.#conns.get(id);
          if (conn !== undefined) this.#serve(conn);
        }
      }
      this.#poll(done);
    });
  }

  #acceptAll(): void {
    for (;;) {
      // Blocking descriptors: the epoll phases read with MSG_DONTWAIT, the reader blocks on
      // purpose.
      const fd = accept(this.#listenFd, SOCK_CLOEXEC);
      if (fd < 0) return;
      const conn = new Connection(this.#nextId++, fd, this.protocol);
      this.#conns.set(conn.id, conn);
      if (!this.#identify(conn)) continue;
      if (this.#conns.size > MAX_CONNECTIONS || this.#stopping) {
        this.#refuse(
          conn,
          'FAILED',
          this.#stopping ? 'the agent is stopping' : 'too many crashes at once',
        );
        continue;
      }
      this.#guard(conn, () => {
        if (this.protocol === 'plain') this.#decide(conn);
        else this.#watch(conn);
      });
    }
  }

  /** SO_PEERPIDFD (Linux 6.5; for a reaped peer 6.16) and the pid behind it. */
  #identify(conn: Connection): boolean {
    try {
      conn.pidfd = getsockoptInt(conn.fd, SOL_SOCKET, SO_PEERPIDFD, 'SO_PEERPIDFD');
      conn.pid = decodePidfdInfo(pidfdGetInfoRaw(conn.pidfd, 0, this.#info)).pid;
      return true;
    } catch (err) {
      this.#fail(conn, `identifying the crashing process: ${(err as Error).message}`);
      return false;
    }
  }

  #watch(conn: Connection): void {
    epollCtl(this.#epfd, EPOLL_CTL_ADD, conn.fd, EPOLLIN, conn.id, this.#scratch);
    conn.watched = true;
  }

  #unwatch(conn: Connection): void {
    if (!conn.watched) return;
    conn.watched = false;
    epollCtl(this.#epfd, EPOLL_CTL_DEL, conn.fd, 0, conn.id, this.#scratch);
  }

  /** Runs one step of `conn`; a step that throws fails that crash only. */
  #guard(conn: Connection, step: () => void): void {
    try {
      step();
    } catch (err) {
      this.#fail(conn, err instanceof Error ? err.message : String(err));
    }
  }

  /** Reads the request, then the mark, as far as the socket has them. */
  #serve(conn: Connection): void {
    this.#guard(conn, () => {
      for (;;) {
        if (conn.phase === 'request' && this.#readRequest(conn)) continue;
        if (conn.phase === 'mark' && this.#readMark(conn)) continue;
        return;
      }
    });
  }

  /** `struct coredump_req`: the first 16 bytes say how many follow. False when none came. */
  #readRequest(conn: Connection): boolean {
    const want = conn.req === null ? COREDUMP_REQ_SIZE_VER0 : conn.req.size;
    const n = recv(conn.fd, conn.reqBuf.subarray(conn.reqGot), want - conn.reqGot, MSG_DONTWAIT);
    if (n < 0) return false;
    if (n === 0) throw new Error('the kernel closed the connection before its request');
    conn.reqGot += n;
    if (conn.req === null && conn.reqGot >= COREDUMP_REQ_SIZE_VER0) {
      conn.req = decodeCoredumpReq(conn.reqBuf);
      if (conn.req.size < COREDUMP_REQ_SIZE_VER0 || conn.req.size > COREDUMP_REQ_SIZE_MAX) {
        throw new Error(`coredump_req.size ${conn.req.size} is out of range`);
      }
    }
    if (conn.req !== null && conn.reqGot >= conn.req.size) this.#decide(conn);
    return true;
  }

  /** Captures /proc while the kernel waits, applies the policy, and answers. */
  #decide(conn: Connection): void {
    conn.capture = this.#capturer.capture(conn.pid, conn.pidfd);
    const decision = this.#o.policy.decide(conn.capture, Date.now());
    conn.verdict = decision.verdict;
    conn.reason = decision.reason;
    const accepted = decision.verdict === 'ACCEPTED';

    if (conn.req !== null) {
      const disposition = accepted ? COREDUMP_KERNEL : COREDUMP_REJECT;
      const ack = encodeCoredumpAck(conn.req, disposition, accepted);
      if (send(conn.fd, ack) !== ack.length) throw new Error('short send of coredump_ack');
      conn.phase = 'mark';
    } else if (!accepted) {
      // `@` has no ack: closing the socket ends the dump at once.
      this.#finish(conn);
      return;
    }
    if (accepted) this.#openStore(conn);
    // `@`: the core follows at once.
    if (conn.phase === 'head') this.#stream(conn);
  }

  #openStore(conn: Connection): void {
    const store = this.#o.store;
    const cap = conn.capture;
    if (store === null || cap === null) return;
    const sensitive = cap.info !== null && (cap.info.coredump_mask & PIDFD_COREDUMP_ROOT) !== 0;
    conn.writer = store.open(
      { bootId: readBootId(), pid: conn.pid, pidfsIno: cap.pidfsIno, timeUs: conn.timeUs },
      cap.info?.ruid ?? null,
      sensitive,
    );
  }

  /** `enum coredump_mark` as a u32: 0 when the kernel took the ack. False when none came. */
  #readMark(conn: Connection): boolean {
    const n = recv(
      conn.fd,
      conn.markBuf.subarray(conn.markGot),
      COREDUMP_MARK_SIZE - conn.markGot,
      MSG_DONTWAIT,
    );
    if (n < 0) return false;
    if (n === 0) throw new Error('the kernel closed the connection before its mark');
    conn.markGot += n;
    if (conn.markGot < COREDUMP_MARK_SIZE) return true;
    const mark = conn.markBuf.readUInt32LE(0);
    if (mark !== COREDUMP_MARK_REQACK) {
      conn.verdict = 'FAILED';
      conn.reason = `the kernel refused the ack: ${coredumpMarkName(mark)}`;
    }
    if (conn.verdict !== 'ACCEPTED') {
      this.#finish(conn);
      return true;
    }
    // The core follows the mark: from here on the reader thread owns the socket's reads.
    this.#unwatch(conn);
    conn.phase = 'head';
    this.#stream(conn);
    return true;
  }

  /** Hands the core to a free reader thread, or queues it until one is free. */
  #stream(conn: Connection): void {
    const alive = this.#readers.filter((r) => r.dead === null);
    if (alive.length === 0) {
      const why = this.#readers[0]?.dead?.message ?? 'none was started';
      this.#fail(conn, `no thread to read the core: ${why}`);
      return;
    }
    const reader = alive.find((r) => !r.busy);
    if (reader === undefined) {
      this.#waiting.push(conn);
      return;
    }
    conn.reader = reader;
    conn.readEnded = new Promise((resolve) => {
      const sink: CoreSink = {
        onChunk: (slot, chunk) => this.#guard(conn, () => this.#onChunk(conn, slot, chunk)),
        onEnd: (err, kept) => {
          conn.ended = true;
          conn.received += kept.bytes;
          if (kept.truncated) conn.truncated = true;
          resolve();
          this.#streamWaiting();
          if (err !== null) this.#fail(conn, `reading the core: ${err.message}`);
          else this.#guard(conn, () => this.#advance(conn));
        },
      };
      reader.read(conn.fd, sink);
    });
  }

  /**
   * Starts the waiting cores, oldest first, while readers are free (or fails them if none
   * lives).
   */
  #streamWaiting(): void {
    const startable = (): boolean =>
      this.#readers.some((r) => r.dead === null && !r.busy) ||
      this.#readers.every((r) => r.dead !== null);
    while (this.#waiting.length > 0 && startable()) {
      const next = this.#waiting.shift() as Connection;
      // A crash that failed while it waited (the agent stopping) has no descriptor any more.
      if (next.phase !== 'done') this.#stream(next);
    }
  }

  /**
   * The reader filled a slot. The stream's bytes go to the store at once, in their order; the
   * analysis side takes them when its phase allows (not while the plan is being made).
   */
  #onChunk(conn: Connection, slot: number, chunk: Buffer): void {
    const reader = conn.reader as CoreReader;
    const room = this.#o.policy.options.maxCoreBytes - conn.received;
    if (chunk.length > room) {
      // Past the size cap: the reader stops, and the kernel's next write ends the dump.
      conn.truncated = true;
      reader.stop();
    }
    const taken = chunk.length > room ? chunk.subarray(0, room) : chunk;
    if (conn.phase === 'done' || taken.length === 0) {
      reader.release(slot);
      return;
    }
    conn.received += taken.length;
    // Pending first: whatever fails below, #finish gives the slot back.
    conn.pending.push({ slot, bytes: taken });
    if (conn.writer !== null) {
      reader.retain(slot);
      conn.writer.write(taken, reader.releaser(slot));
    }
    this.#advance(conn);
  }

  /**
   * Passes the pending chunks through the head, the ranges or past them, as far as the phase
   * allows; finishes the crash once the stream ended and nothing is left.
   */
  #advance(conn: Connection): void {
    while (conn.phase !== 'planning' && conn.phase !== 'done') {
      const chunk = conn.pending[0];
      if (chunk === undefined) break;
      conn.pendingAt += this.#take(conn, chunk.bytes.subarray(conn.pendingAt));
      if (conn.pendingAt === chunk.bytes.length) {
        conn.pending.shift();
        conn.pendingAt = 0;
        conn.reader?.release(chunk.slot);
      }
      if (conn.phase === 'head' && conn.pos >= conn.headWanted) this.#plan(conn);
    }
    if (conn.ended && conn.pending.length === 0 && conn.phase !== 'planning') this.#finish(conn);
  }

  /** Takes stream bytes at `conn.pos`; returns how many (the head takes what it still wants). */
  #take(conn: Connection, bytes: Buffer): number {
    if (conn.phase === 'head') {
      const n = Math.min(bytes.length, conn.headWanted - conn.pos);
      if (conn.head.length < conn.pos + n) {
        const bigger = Buffer.allocUnsafe(conn.headWanted);
        conn.head.copy(bigger, 0, 0, conn.pos);
        conn.head = bigger;
      }
      bytes.copy(conn.head, conn.pos, 0, n);
      conn.pos += n;
      return n;
    }
    if (conn.phase === 'body') conn.ranges?.fill(conn.pos, bytes);
    conn.pos += bytes.length;
    return bytes.length;
  }

  /** Asks the analyser which ranges it needs; the analysis side waits for the answer. */
  #plan(conn: Connection): void {
    const analyser = this.#o.analyser;
    if (analyser === null) {
      conn.phase = 'draining';
      return;
    }
    conn.phase = 'planning';
    const head = conn.head.subarray(0, conn.pos);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no plan within ${PLAN_TIMEOUT_MS} ms`)),
        PLAN_TIMEOUT_MS,
      );
    });
    const planned = Promise.race([analyser.plan(new Uint8Array(head)), timeout]).then(
      (plan) => {
        if (conn.phase === 'done') return;
        if ('needHead' in plan && plan.needHead > conn.pos) {
          conn.headWanted = Math.min(plan.needHead, HEAD_MAX_BYTES);
          if (plan.needHead > HEAD_MAX_BYTES) {
            conn.analysisNote = `notes need ${plan.needHead} bytes, more than the ${HEAD_MAX_BYTES}-byte head cap`;
          }
          if (conn.headWanted > conn.pos) {
            conn.phase = 'head';
            return;
          }
        }
        conn.ranges = new CoreRanges('ranges' in plan ? plan.ranges : []);
        conn.ranges.fill(0, head);
        if (conn.ranges.note !== null) conn.analysisNote = conn.ranges.note;
        conn.phase = 'body';
        // Nothing to store: the reader thread keeps the ranges of the rest of the stream
        // itself, and the main thread no longer wakes for every chunk.
        if (conn.writer === null && !conn.ended) {
          conn.reader?.keep(conn.ranges.shared(), this.#o.policy.options.maxCoreBytes);
        }
      },
      (err: unknown) => {
        if (conn.phase === 'done') return;
        conn.analysisNote = `planning failed: ${err instanceof Error ? err.message : String(err)}`;
        conn.phase = 'draining';
      },
    );
    this.#track(
      planned.then(() => {
        clearTimeout(timer);
        this.#guard(conn, () => this.#advance(conn));
      }),
    );
  }

  /**
   * Reads the final coredump_mask and reports. The connection stays open until the Coredump
   * event is out: with COREDUMP_WAIT the process cannot exit before, so its ProcessExit
   * always finds the link to the Coredump event.
   */
  #finish(conn: Connection): void {
    if (conn.phase === 'done') return;
    const head = conn.phase === 'head' || conn.phase === 'planning';
    conn.phase = 'done';
    conn.endedUs = clockUs();
    if (conn.reader !== null) {
      // A read still under way ends (a failure, the agent stopping); its chunks are dropped.
      if (!conn.ended) conn.reader.stop();
      for (const chunk of conn.pending) conn.reader.release(chunk.slot);
      conn.pending = [];
    }
    if (conn.ranges !== null && conn.ranges.plannedEnd > conn.received) conn.truncated = true;
    let mask: number | null = conn.capture?.info?.coredump_mask ?? null;
    try {
      const info = decodePidfdInfo(pidfdGetInfoRaw(conn.pidfd, PIDFD_INFO_COREDUMP, this.#info));
      if ((info.mask & PIDFD_INFO_COREDUMP) !== 0) mask = info.coredump_mask;
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
    }
    try {
      this.#unwatch(conn);
    } catch (err) {
      // The descriptor left the epoll set with an error of its own; it is closed below.
      if (!(err instanceof SyscallError)) throw err;
    }
    this.#track(this.#report(conn, mask, head).finally(() => this.#release(conn)));
  }

  /** Closes the connection once no reader thread reads it any more. */
  async #release(conn: Connection): Promise<void> {
    if (conn.readEnded !== null) await conn.readEnded;
    close(conn.fd);
    if (conn.pidfd >= 0) close(conn.pidfd);
    this.#conns.delete(conn.id);
  }

  async #report(conn: Connection, coredumpMask: number | null, onlyHead: boolean): Promise<void> {
    let stored: StoredCore | null = null;
    if (conn.writer !== null) {
      try {
        stored = conn.truncated || conn.verdict !== 'ACCEPTED' ? null : await conn.writer.finish();
        if (stored === null) await conn.writer.abort();
      } catch (err) {
        conn.analysisNote ??= `storing failed: ${(err as Error).message}`;
      }
    }
    const analysis = await this.#analyse(conn, onlyHead);
    this.counts[conn.verdict]++;
    this.#o.onCrash({
      timeUs: conn.timeUs,
      pid: conn.pid,
      capture: conn.capture,
      verdict: conn.verdict,
      reason: conn.reason,
      coredumpMask,
      coreSize: conn.received,
      truncated: conn.truncated,
      stored,
      analysis,
      blockedUs: conn.endedUs - conn.acceptedUs,
    });
  }

  async #analyse(conn: Connection, onlyHead: boolean): Promise<CoreAnalysis> {
    const analyser = this.#o.analyser;
    if (conn.verdict !== 'ACCEPTED') return emptyAnalysis(`no core: ${conn.reason}`);
    if (analyser === null) return emptyAnalysis('no analyser in this agent');
    const head = new Uint8Array(conn.head.subarray(0, Math.min(conn.pos, conn.head.length)));
    try {
      if (onlyHead) {
        // The whole core fit in the head: the plan's ranges come from it.
        const plan = await analyser.plan(head);
        conn.ranges = new CoreRanges('ranges' in plan ? plan.ranges : []);
        conn.ranges.fill(0, head);
      }
      const ranges = conn.ranges?.result(conn.received) ?? [];
      const analysis = await analyser.analyse(head, ranges, conn.received, conn.truncated);
      if (conn.analysisNote !== null && analysis.analysis_error === null) {
        return { ...analysis, analysis_error: conn.analysisNote };
      }
      return analysis;
    } catch (err) {
      return emptyAnalysis(`analysis failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Answers a crash the server will not take, and reports it. */
  #refuse(conn: Connection, verdict: Verdict, reason: string): void {
    conn.verdict = verdict;
    conn.reason = reason;
    this.#finish(conn);
  }

  /** A connection that broke: reported as FAILED with what is known. */
  #fail(conn: Connection, reason: string): void {
    if (conn.phase === 'done') return;
    conn.verdict = 'FAILED';
    conn.reason = reason;
    conn.truncated = conn.received > 0;
    this.#finish(conn);
  }

  #track(work: Promise<void>): void {
    const tracked = work.catch((err: unknown) => {
      const message = `reporting a crash: ${(err as Error).message}`;
      this.#o.onError(new PidstreamError('PIDSTREAM_ERR_CORE', message, { cause: err }), false);
    });
    this.#pending.add(tracked);
    void tracked.finally(() => this.#pending.delete(tracked));
  }
}
