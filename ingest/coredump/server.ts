/**
 * The coredump socket server. The kernel connects once per crash; for each connection the
 * server runs the steps in order: accept, identify (SO_PEERPIDFD, PIDFD_GET_INFO, /proc while
 * the kernel waits), decide (policy), ack, stream (the core, through the analyser's plan and
 * the optional store), and report.
 *
 * Threading: the Node event loop never blocks. Accepting and the short exchanges (request,
 * ack, mark, the head of the core) use non-blocking reads on an epoll set whose `epoll_wait`
 * runs on a koffi worker thread (`epollWaitAsync`). The bulk of the core is read with a
 * blocking `recv(MSG_WAITALL)` of a whole chunk on a koffi worker thread, double-buffered so
 * the main thread copies ranges and queues compression for one chunk while the next one
 * fills. Measured on the project's 2-core machine with a 1 GiB core (`npm run bench:cores`):
 * one epoll wake per readable burst (the kernel's socket buffer, ~200 KiB) reached about half
 * of a blocking C server; whole-chunk reads matched it (docs/coredumps.md). Those reads
 * hold a libuv thread each, so at most STREAMS_AT_ONCE cores stream at a time; the other
 * crashes wait in the kernel, as they would behind any single-threaded server.
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
  recv,
  send,
  SO_PEERPIDFD,
  SOCK_CLOEXEC,
  MSG_DONTWAIT,
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
import { listenUnix, MSG_WAITALL, recvAsync } from '../../native/unix-socket.js';
import { emptyAnalysis, type CoreAnalyser, type CoreAnalysis } from './analyser.js';
import { CoreRanges, HEAD_INITIAL_BYTES, HEAD_MAX_BYTES } from './ranges.js';
import { CrashCapturer, type CrashCapture } from './capture.js';
import type { CorePolicy, Verdict } from './policy.js';
import type { CoreStore, CoreWriter, StoredCore } from './store.js';

/** Bytes per recv: the kernel's socket buffer rarely holds more than a few hundred KiB. */
export const RECV_CHUNK_BYTES = 1024 * 1024;
/** Bytes read from one connection before the others get a turn. */
const FAIR_SHARE_BYTES = 16 * 1024 * 1024;
/** Crashes handled at once; a crash beyond it is refused and reported. */
export const MAX_CONNECTIONS = 16;
/** How long the analyser may take to plan before the core streams on without ranges. */
export const PLAN_TIMEOUT_MS = 10_000;
/** Cores read on worker threads at once (each holds one libuv thread while it waits). */
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

type Phase = 'request' | 'mark' | 'head' | 'planning' | 'body' | 'draining' | 'done';

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
  req: CoredumpReq | null = null;
  reqBuf = Buffer.alloc(COREDUMP_REQ_SIZE_MAX);
  reqGot = 0;
  markBuf = Buffer.alloc(COREDUMP_MARK_SIZE);
  markGot = 0;
  capture: CrashCapture | null = null;
  verdict: Verdict = 'ACCEPTED';
  reason = 'accepted';
  pos = 0;
  truncated = false;
  head = Buffer.allocUnsafe(HEAD_INITIAL_BYTES);
  headWanted = HEAD_INITIAL_BYTES;
  ranges: CoreRanges | null = null;
  analysisNote: string | null = null;
  writer: CoreWriter | null = null;
  /** The two chunk buffers while the core streams on a worker thread; empty otherwise. */
  buffers: Buffer[] = [];
  next = 0;
  paused = false;
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
  readonly #chunk = Buffer.allocUnsafe(HEAD_INITIAL_BYTES);
  readonly #info = Buffer.alloc(PIDFD_INFO_SIZE);
  #listenFd = -1;
  #epfd = -1;
  #wakeFd = -1;
  #nextId = 2;
  #stopping = false;
  #loopDone: Promise<void> | null = null;
  #pending = new Set<Promise<void>>();
  #streaming = 0;
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
    close(this.#listenFd);
    rmSync(this.#o.socketPath, { force: true });
    close(this.#wakeFd);
    close(this.#epfd);
    this.#listenFd = -1;
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
      // Blocking descriptors: the epoll phases read with MSG_DONTWAIT, the stream blocks on purpose.
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
      if (this.protocol === 'plain') this.#decide(conn);
      if (conn.phase !== 'done') this.#watch(conn);
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
    conn.paused = false;
  }

  #pause(conn: Connection): void {
    if (conn.paused) return;
    epollCtl(this.#epfd, EPOLL_CTL_DEL, conn.fd, 0, conn.id, this.#scratch);
    conn.paused = true;
  }

  #resume(conn: Connection): void {
    if (!conn.paused || conn.phase === 'done') return;
    this.#watch(conn);
    this.#serve(conn);
  }

  /** Reads what the connection has, step by step, until it would block or must wait. */
  #serve(conn: Connection): void {
    try {
      let budget = FAIR_SHARE_BYTES;
      while (budget > 0 && !conn.paused && conn.phase !== 'done') {
        const n = this.#step(conn);
        if (n < 0) return;
        budget -= n;
      }
    } catch (err) {
      this.#fail(conn, err instanceof Error ? err.message : String(err));
    }
  }

  /** One read for the current phase; returns bytes read, -1 when the socket is empty. */
  #step(conn: Connection): number {
    switch (conn.phase) {
      case 'request':
        return this.#readRequest(conn);
      case 'mark':
        return this.#readMark(conn);
      case 'head':
        return this.#readHead(conn);
      default:
        return -1;
    }
  }

  /** `struct coredump_req`: the first 16 bytes say how many follow. */
  #readRequest(conn: Connection): number {
    const want = conn.req === null ? COREDUMP_REQ_SIZE_VER0 : conn.req.size;
    const n = recv(conn.fd, conn.reqBuf.subarray(conn.reqGot), want - conn.reqGot, MSG_DONTWAIT);
    if (n < 0) return -1;
    if (n === 0) throw new Error('the kernel closed the connection before its request');
    conn.reqGot += n;
    if (conn.req === null && conn.reqGot >= COREDUMP_REQ_SIZE_VER0) {
      conn.req = decodeCoredumpReq(conn.reqBuf);
      if (conn.req.size < COREDUMP_REQ_SIZE_VER0 || conn.req.size > COREDUMP_REQ_SIZE_MAX) {
        throw new Error(`coredump_req.size ${conn.req.size} is out of range`);
      }
    }
    if (conn.req !== null && conn.reqGot >= conn.req.size) this.#decide(conn);
    return n;
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

  /** `enum coredump_mark` as a u32: 0 when the kernel took the ack. */
  #readMark(conn: Connection): number {
    const n = recv(
      conn.fd,
      conn.markBuf.subarray(conn.markGot),
      COREDUMP_MARK_SIZE - conn.markGot,
      MSG_DONTWAIT,
    );
    if (n < 0) return -1;
    if (n === 0) throw new Error('the kernel closed the connection before its mark');
    conn.markGot += n;
    if (conn.markGot < COREDUMP_MARK_SIZE) return n;
    const mark = conn.markBuf.readUInt32LE(0);
    if (mark !== COREDUMP_MARK_REQACK) {
      conn.verdict = 'FAILED';
      conn.reason = `the kernel refused the ack: ${coredumpMarkName(mark)}`;
    }
    if (conn.verdict !== 'ACCEPTED') {
      this.#finish(conn);
      return n;
    }
    conn.phase = 'head';
    return n;
  }

  /** The head of the core, read while the kernel's writes arrive, for the analyser's plan. */
  #readHead(conn: Connection): number {
    const max = Math.min(this.#chunk.length, conn.headWanted - conn.pos);
    const n = recv(conn.fd, this.#chunk, max, MSG_DONTWAIT);
    if (n < 0) return -1;
    if (n === 0) {
      this.#finish(conn);
      return 0;
    }
    if (this.#consume(conn, this.#chunk.subarray(0, n))) return n;
    if (conn.pos >= conn.headWanted) this.#plan(conn);
    return n;
  }

  /** Streams the rest of the core on a worker thread, when a stream slot is free. */
  #stream(conn: Connection): void {
    this.#unwatch(conn);
    if (this.#streaming >= STREAMS_AT_ONCE) {
      this.#waiting.push(conn);
      return;
    }
    this.#streaming++;
    conn.buffers = [Buffer.allocUnsafe(RECV_CHUNK_BYTES), Buffer.allocUnsafe(RECV_CHUNK_BYTES)];
    this.#recvNext(conn);
  }

  #recvNext(conn: Connection): void {
    // A stored core's chunks go to the compressor as they are: each read gets a fresh buffer,
    // which the store's queue cap bounds, instead of a copy of a reused one.
    let buf = conn.buffers[conn.next] as Buffer;
    if (conn.writer !== null) buf = Buffer.allocUnsafeSlow(RECV_CHUNK_BYTES);
    else conn.next ^= 1;
    recvAsync(conn.fd, buf, RECV_CHUNK_BYTES, MSG_WAITALL, (err, n) => {
      try {
        this.#onChunk(conn, buf, err, n);
      } catch (failure) {
        this.#endStream(conn);
        this.#fail(conn, failure instanceof Error ? failure.message : String(failure));
      }
    });
  }

  /** One chunk arrived: ask for the next before working on this one, so both cores work. */
  #onChunk(conn: Connection, buf: Buffer, err: Error | null, n: number): void {
    if (err !== null || n === 0 || conn.phase === 'done') {
      this.#endStream(conn);
      if (err !== null) this.#fail(conn, `reading the core: ${err.message}`);
      else this.#finish(conn);
      return;
    }
    const cap = this.#o.policy.options.maxCoreBytes;
    if (conn.pos + n > cap) {
      conn.truncated = true;
      this.#consume(conn, buf.subarray(0, cap - conn.pos));
      this.#endStream(conn);
      this.#finish(conn);
      return;
    }
    const writer = conn.writer;
    const backedUp = writer !== null && writer.full;
    if (!backedUp) this.#recvNext(conn);
    this.#consume(conn, buf.subarray(0, n));
    if (backedUp && writer !== null) {
      void writer.drained().then(() => {
        if (conn.phase === 'done') this.#endStream(conn);
        else this.#recvNext(conn);
      });
    }
  }

  #endStream(conn: Connection): void {
    if (conn.buffers.length === 0) return;
    conn.buffers = [];
    this.#streaming--;
    // A crash that failed while it waited (the agent stopping) has no descriptor any more.
    let waiting = this.#waiting.shift();
    while (waiting !== undefined && waiting.phase === 'done') waiting = this.#waiting.shift();
    if (waiting !== undefined) this.#stream(waiting);
  }

  /**
   * Takes `chunk` (stream bytes from `conn.pos`) into the head, the ranges and the store.
   * Returns true when the store's queue is full and the head phase paused for it.
   */
  #consume(conn: Connection, chunk: Buffer): boolean {
    if (conn.phase === 'head') {
      if (conn.head.length < conn.pos + chunk.length) {
        const bigger = Buffer.allocUnsafe(conn.headWanted);
        conn.head.copy(bigger, 0, 0, conn.pos);
        conn.head = bigger;
      }
      chunk.copy(conn.head, conn.pos);
    } else if (conn.ranges !== null) {
      conn.ranges.fill(conn.pos, chunk);
    }
    conn.pos += chunk.length;
    const writer = conn.writer;
    if (writer === null) return false;
    // The head phase reads into one reused buffer: the compressor gets a copy.
    const owned = conn.phase === 'head' ? Buffer.from(chunk) : chunk;
    if (writer.write(owned) || conn.phase !== 'head') return false;
    this.#pause(conn);
    void writer.drained().then(() => this.#resume(conn));
    return true;
  }

  /** Asks the analyser which ranges it needs; the stream waits for the answer. */
  #plan(conn: Connection): void {
    const analyser = this.#o.analyser;
    if (analyser === null) {
      conn.phase = 'draining';
      this.#stream(conn);
      return;
    }
    conn.phase = 'planning';
    this.#pause(conn);
    const head = conn.head.subarray(0, conn.pos);
    const timeout = new Promise<never>((_, reject) => {
      setTimeout(
        () => reject(new Error(`no plan within ${PLAN_TIMEOUT_MS} ms`)),
        PLAN_TIMEOUT_MS,
      ).unref();
    });
    const planned = Promise.race([analyser.plan(new Uint8Array(head)), timeout]).then(
      (plan) => {
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
      },
      (err: unknown) => {
        conn.analysisNote = `planning failed: ${err instanceof Error ? err.message : String(err)}`;
        conn.phase = 'draining';
      },
    );
    this.#track(
      planned.then(() => {
        if (conn.phase === 'head') this.#resume(conn);
        else if (conn.phase !== 'done') this.#stream(conn);
      }),
    );
  }

  #endOfCore(conn: Connection): void {
    this.#finish(conn);
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
    if (conn.ranges !== null && conn.ranges.plannedEnd > conn.pos) conn.truncated = true;
    let mask: number | null = conn.capture?.info?.coredump_mask ?? null;
    try {
      const info = decodePidfdInfo(pidfdGetInfoRaw(conn.pidfd, PIDFD_INFO_COREDUMP, this.#info));
      if ((info.mask & PIDFD_INFO_COREDUMP) !== 0) mask = info.coredump_mask;
    } catch (err) {
      if (!(err instanceof SyscallError)) throw err;
    }
    this.#unwatch(conn);
    this.#track(this.#report(conn, mask, head).finally(() => this.#release(conn)));
  }

  #unwatch(conn: Connection): void {
    if (conn.paused) return;
    conn.paused = true;
    try {
      epollCtl(this.#epfd, EPOLL_CTL_DEL, conn.fd, 0, conn.id, this.#scratch);
    } catch (err) {
      // ENOENT: it was never watched (refused at accept).
      if (!(err instanceof SyscallError)) throw err;
    }
  }

  #release(conn: Connection): void {
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
      coreSize: conn.pos,
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
      const ranges = conn.ranges?.result(conn.pos) ?? [];
      const analysis = await analyser.analyse(head, ranges, conn.pos, conn.truncated);
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
    conn.truncated = conn.pos > 0;
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
