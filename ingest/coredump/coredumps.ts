/**
 * Crash capture in the agent: takes over core_pattern, runs the socket server, turns each
 * crash into a Coredump event (linked to the process's ProcessExit) and every core it did not
 * take into a CORE_REJECTED loss, and gives core_pattern back on stop.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

import type { Logger } from '../../common/log.js';
import type { EventName } from '../../schemas/index.js';
import { agentMetrics } from '../metrics.js';
import type { LossKind } from '../stats.js';
import type { StampedEvent } from '../sequencer.js';
import { emptyAnalysis, type CoreAnalyser } from './analyser.js';
import type { CoredumpEncoder } from './emit.js';
import type { CoredumpOptions } from './options.js';
import { CorePolicy, type Verdict } from './policy.js';
import { CoredumpServer, type CrashReport } from './server.js';
import { CoreStore } from './store.js';
import {
  corePatternHolder,
  repairStaleCorePattern,
  restoreCorePattern,
  takeOverCorePattern,
  type Takeover,
} from './takeover.js';

/** How often refused cores are summed up into one CORE_REJECTED loss event per reason. */
export const REJECTION_REPORT_INTERVAL_MS = 10_000;

/** What crash capture needs from the agent. */
export interface CoredumpHost {
  emit(name: EventName, body: Uint8Array): StampedEvent;
  loss(kind: LossKind, count: number, message: string, attributes?: Record<string, string>): void;
  degraded(feature: string, since: string, detail: string): void;
  linkCoredump(pid: number, pidfsIno: number, seq: number): void;
}

export class Coredumps {
  readonly #o: CoredumpOptions;
  readonly #host: CoredumpHost;
  readonly #encoder: CoredumpEncoder;
  readonly #analyser: CoreAnalyser | null;
  readonly #log: Logger;
  #server: CoredumpServer | null = null;
  #takeover: Takeover | null = null;
  /** Refused cores since the last report, by verdict and executable. */
  readonly #refused = new Map<string, { verdict: Verdict; exe: string; count: number }>();
  #timer: NodeJS.Timeout | null = null;

  constructor(
    options: CoredumpOptions,
    host: CoredumpHost,
    encoder: CoredumpEncoder,
    analyser: CoreAnalyser | null,
    log: Logger,
  ) {
    this.#o = options;
    this.#host = host;
    this.#encoder = encoder;
    this.#analyser = analyser;
    this.#log = log;
  }

  /** How crashes reach the agent, once started. */
  get takeover(): Takeover | null {
    return this.#takeover;
  }

  get server(): CoredumpServer | null {
    return this.#server;
  }

  /** Listens first, then points core_pattern at the socket, so no crash finds it unserved. */
  start(): void {
    const o = this.#o;
    if (!o.enabled) {
      const repaired = repairStaleCorePattern(o.statePath);
      if (repaired !== null) {
        this.#log.info({ corePattern: repaired }, 'core_pattern left by a stopped agent restored');
      }
      this.#log.info('crash capture is off (--no-coredumps): core_pattern left alone');
      return;
    }
    const holder = corePatternHolder(o.statePath);
    if (holder !== null) {
      const detail = `crash capture is off: pidstream agent ${holder.pid} holds core_pattern ${holder.ours}`;
      this.#host.degraded('core_pattern socket', '6.16', detail);
      return;
    }
    mkdirSync(dirname(o.socketPath), { recursive: true, mode: 0o755 });
    rmSync(o.socketPath, { force: true });
    const server = new CoredumpServer({
      socketPath: o.socketPath,
      protocol: 'ack',
      policy: new CorePolicy(o.policy),
      store:
        o.storeDir === null
          ? null
          : new CoreStore({
              dir: o.storeDir,
              maxBytes: o.storeMaxBytes,
              keepFreeBytes: o.storeKeepFreeBytes,
            }),
      analyser: this.#analyser,
      onCrash: (report) => this.#report(report),
      onError: (err, fatal) => this.#failed(err, fatal),
    });
    server.start();
    const takeover = takeOverCorePattern(o.socketPath, o.statePath);
    this.#takeover = takeover;
    if (takeover.mode === 'off') {
      void server.stop(0);
      rmSync(o.socketPath, { force: true });
      this.#host.degraded(
        'core_pattern socket',
        '6.16',
        `crash capture is off: ${takeover.reason}`,
      );
      return;
    }
    if (takeover.mode === 'socket') {
      server.protocol = 'plain';
      this.#host.degraded(
        'core_pattern @@ socket',
        '6.17',
        'cores are taken without a request: no policy before the dump, no COREDUMP_WAIT',
      );
    }
    this.#server = server;
    this.#timer = setInterval(() => this.#reportRefused(), REJECTION_REPORT_INTERVAL_MS);
    this.#timer.unref();
    this.#log.info(
      {
        mode: takeover.mode,
        policyBeforeDump: takeover.mode === 'socket-ack',
        corePattern: takeover.pattern,
        previous: takeover.previous,
        recovered: takeover.recovered,
        store: o.storeDir,
      },
      'crash capture on',
    );
  }

  /** Gives core_pattern back first, then lets the crashes in flight finish. */
  async stop(): Promise<void> {
    if (this.#takeover !== null && this.#takeover.mode !== 'off') {
      const left = restoreCorePattern(this.#takeover, this.#o.statePath);
      this.#log.info({ corePattern: left }, 'core_pattern restored');
    }
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#server?.stop();
    this.#server = null;
    rmSync(this.#o.socketPath, { force: true });
    this.#reportRefused();
  }

  /**
   * A failed report is logged; a failed server gives core_pattern back at once, so later
   * crashes dump the way they did before the agent instead of into a socket nobody reads.
   */
  #failed(err: Error, fatal: boolean): void {
    if (!fatal) {
      this.#log.error({ err }, 'a crash could not be reported');
      return;
    }
    this.#log.error({ err }, 'coredump server failed; core_pattern restored');
    if (this.#takeover !== null && this.#takeover.mode !== 'off') {
      restoreCorePattern(this.#takeover, this.#o.statePath);
      this.#takeover = null;
    }
    this.#host.degraded('coredump server', '6.16', `crash capture stopped: ${err.message}`);
  }

  #report(report: CrashReport): void {
    let body: Buffer;
    try {
      body = this.#encoder.encode(report);
    } catch (err) {
      const reason = `the analysis does not fit the Coredump schema: ${(err as Error).message}`;
      report = { ...report, analysis: emptyAnalysis(reason) };
      body = this.#encoder.encode(report);
    }
    const event = this.#host.emit('Coredump', body);
    agentMetrics.coredumps.inc({ verdict: report.verdict });
    agentMetrics.coreBytes.inc(report.coreSize);
    const ino = report.capture?.pidfsIno ?? 0;
    this.#host.linkCoredump(report.pid, ino, event.seq);

    const exe = report.capture?.exe ?? report.capture?.comm ?? '?';
    if (report.verdict === 'ACCEPTED' && report.analysis.analysis_error !== null) {
      this.#host.loss('CORE_ANALYSIS_FAILED', 1, 'a core could not be fully analysed', {
        exe,
        pid: String(report.pid),
        coredump_seq: String(event.seq),
        error: report.analysis.analysis_error,
      });
    }
    if (report.verdict !== 'ACCEPTED') {
      const key = `${report.verdict}\0${exe}`;
      const entry = this.#refused.get(key);
      if (entry === undefined) {
        // The first refusal of a kind is reported at once; a crash loop's rest is summed up
        // every REJECTION_REPORT_INTERVAL_MS.
        this.#refused.set(key, { verdict: report.verdict, exe, count: 0 });
        this.#lossRefused(report.verdict, exe, 1);
      } else {
        entry.count++;
      }
    }
  }

  #reportRefused(): void {
    for (const [key, r] of this.#refused) {
      if (r.count === 0) {
        this.#refused.delete(key);
        continue;
      }
      this.#lossRefused(r.verdict, r.exe, r.count);
      r.count = 0;
    }
  }

  #lossRefused(verdict: Verdict, exe: string, count: number): void {
    this.#host.loss('CORE_REJECTED', count, `${count} cores of ${exe} not taken: ${verdict}`, {
      verdict,
      exe,
    });
  }
}
