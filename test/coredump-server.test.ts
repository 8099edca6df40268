/**
 * The socket server on its own, against the real kernel: the `@` form of core_pattern (the
 * Linux 6.16 fallback, which this kernel also accepts) and a stream cut at the size cap.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Piscina } from 'piscina';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { hostName, readBootId } from '../common/host.js';
import { distFile } from '../common/paths.js';
import { poolAnalyser, type TaskRunner } from '../ingest/coredump/analyser.js';
import { CorePolicy, DEFAULT_CORE_POLICY, type Decision } from '../ingest/coredump/policy.js';
import {
  CoredumpServer,
  type CrashReport,
  type SocketProtocol,
} from '../ingest/coredump/server.js';
import { withCorePattern, writeCorePattern } from './support/core-pattern.js';
import { crash } from './support/coredumps.js';
import { crasher } from './support/crashers.js';

const CAP = 256 * 1024;

/** Admits every core, so the cap is met while streaming rather than by the estimate. */
class AdmitAll extends CorePolicy {
  override decide(): Decision {
    return { verdict: 'ACCEPTED', reason: 'accepted' };
  }
}

let pool: Piscina;
const dir = mkdtempSync(join(tmpdir(), 'pidstream-coredump-server-'));

beforeAll(() => {
  pool = new Piscina({
    filename: distFile('workers/task.js'),
    workerData: {
      host: hostName(),
      bootId: readBootId(),
      cgroupRoot: null,
      passwdPath: '/etc/passwd',
    },
    maxThreads: 1,
  });
});

afterAll(async () => {
  await pool.destroy();
  rmSync(dir, { recursive: true, force: true });
});

/** Serves one crash of `argv` with core_pattern `pattern` and returns the report. */
async function serveOne(
  protocol: SocketProtocol,
  policy: CorePolicy,
  argv: string[],
): Promise<{ report: CrashReport; pid: number }> {
  const socketPath = join(dir, `${protocol}.sock`);
  const reports: CrashReport[] = [];
  const server = new CoredumpServer({
    socketPath,
    protocol,
    policy,
    store: null,
    analyser: poolAnalyser(pool as unknown as TaskRunner),
    onCrash: (r) => reports.push(r),
    onError: (err) => {
      throw err;
    },
  });
  server.start();
  try {
    const crashed = await withCorePattern(async () => {
      writeCorePattern(`${protocol === 'ack' ? '@@' : '@'}${socketPath}`);
      return crash(argv);
    });
    await server.stop();
    expect(reports).toHaveLength(1);
    return { report: reports[0] as CrashReport, pid: crashed.pid };
  } finally {
    await server.stop();
  }
}

describe('coredump server', () => {
  it('takes a core from the @ form without a request and analyses it', async () => {
    const policy = new CorePolicy({ ...DEFAULT_CORE_POLICY });
    const { report, pid } = await serveOne('plain', policy, [crasher('null-deref'), 'read']);
    expect(report.pid).toBe(pid);
    expect(report.verdict).toBe('ACCEPTED');
    expect(report.truncated).toBe(false);
    expect(report.analysis.signal).toBe(11);
    expect(report.analysis.fault_address).toBe(0);
    expect(report.capture?.exe).toBe(crasher('null-deref'));
  });

  it('cuts a core at the size cap, marks it truncated and reports what the notes hold', async () => {
    const policy = new AdmitAll({ ...DEFAULT_CORE_POLICY, maxCoreBytes: CAP });
    const { report } = await serveOne('ack', policy, [crasher('threads')]);
    expect(report.verdict).toBe('ACCEPTED');
    expect(report.truncated).toBe(true);
    expect(report.coreSize).toBe(CAP);
    expect(report.stored).toBeNull();
    // The notes lie in the first 256 KiB: the signal and threads are known, the rest is not.
    expect(report.analysis.signal).toBe(11);
    expect(report.analysis.thread_count).toBe(5);
    expect(report.analysis.analysis_error).toMatch(/truncated at 262144 bytes/);
  });
});
