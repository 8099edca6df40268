/**
 * Real programs crash while the built agent holds core_pattern: each crash becomes a Coredump
 * event with the signal, si_code and fault address from the core, the modules with their
 * build-ids, a backtrace and a signature, and the process's ProcessExit links to it.
 */
import { execFileSync } from 'node:child_process';

import { beforeAll, describe, expect, it } from 'vitest';

import type { EventRecord, ExitEvent } from './support/agent.js';
import { crasher, readelfBuildId } from './support/crashers.js';
import {
  type Crash,
  crash,
  type CoredumpEvent,
  coredumpOf,
  withCrashAgent,
} from './support/coredumps.js';

const SIGSEGV = 11;
const SIGABRT = 6;
const SEGV_MAPERR = 1;
const SI_TKILL = -6;

interface Crashes {
  readFirst: Crash;
  readSecond: Crash;
  write: Crash;
  abort: Crash;
  threads: Crash;
  overflow: Crash;
  stripped: Crash;
  staticBinary: Crash;
  python: Crash;
}

let crashes: Crashes;
let events: EventRecord[];
let agentExit: number | null;

function libcPath(): string {
  const out = execFileSync('ldd', [crasher('null-deref')], { encoding: 'utf8' });
  const match = /libc\.so\.6 => (\S+)/.exec(out);
  if (match?.[1] === undefined) throw new Error(`ldd shows no libc: ${out}`);
  return execFileSync('readlink', ['-f', match[1]], { encoding: 'utf8' }).trim();
}

beforeAll(async () => {
  const run = await withCrashAgent([], async () => ({
    readFirst: await crash([crasher('null-deref'), 'read']),
    readSecond: await crash([crasher('null-deref'), 'read']),
    write: await crash([crasher('null-deref'), 'write']),
    abort: await crash([crasher('abort')]),
    threads: await crash([crasher('threads')]),
    overflow: await crash([crasher('stack-overflow')]),
    stripped: await crash([crasher('null-deref', 'stripped'), 'read']),
    staticBinary: await crash([crasher('null-deref', 'static'), 'read']),
    python: await crash(['python3', '-c', 'import ctypes; ctypes.string_at(0)']),
  }));
  crashes = run.result;
  events = run.events;
  agentExit = run.exitCode;
}, 300_000);

function event(c: Crash): CoredumpEvent {
  return coredumpOf(events, c.pid);
}

describe('crashes on the coredump socket', () => {
  it('stops cleanly after the crashes', () => {
    expect(agentExit).toBe(0);
    expect(crashes.readFirst.signal).toBe('SIGSEGV');
  });

  it('reports a null dereference as SIGSEGV, SEGV_MAPERR at address 0', () => {
    const e = event(crashes.readFirst);
    expect(e.verdict).toBe('ACCEPTED');
    expect(e.signal).toBe(SIGSEGV);
    expect(e.signal_name).toBe('SIGSEGV');
    expect(e.si_code).toBe(SEGV_MAPERR);
    expect(e.fault_address).toBe(0);
    expect(e.exe).toBe(crasher('null-deref'));
    expect(e.argv).toEqual([crasher('null-deref'), 'read']);
    expect(e.truncated).toBe(false);
    expect(e.core_size).toBeGreaterThan(0);
    expect(e.analysis_error).toBeNull();
    expect(e.root_mount?.fs_type).toBeTypeOf('string');
    expect(e.cwd).toBe(process.cwd());
  });

  it("gives the executable's build-id as readelf -n prints it", () => {
    const e = event(crashes.readFirst);
    const exe = e.modules.find((m) => m.path === crasher('null-deref'));
    expect(exe?.build_id).toBe(readelfBuildId(crasher('null-deref')));
  });

  it('lists libc among the modules with its build-id', () => {
    const libc = libcPath();
    const module = event(crashes.readFirst).modules.find((m) => m.path === libc);
    expect(module?.build_id).toBe(readelfBuildId(libc));
  });

  it('gives two crashes of the same bug one signature and another bug a different one', () => {
    const first = event(crashes.readFirst).signature;
    expect(first).toMatch(/^[0-9a-f]{16,}$/);
    expect(event(crashes.readSecond).signature).toBe(first);
    expect(event(crashes.write).signature).not.toBe(first);
  });

  it('reports an abort as SIGABRT sent by the process to itself', () => {
    const e = event(crashes.abort);
    expect(e.signal).toBe(SIGABRT);
    expect(e.si_code).toBe(SI_TKILL);
  });

  it('counts the threads and names the one that crashed', () => {
    const e = event(crashes.threads);
    expect(e.thread_count).toBe(5);
    expect(e.crashing_tid).toBe(Number(crashes.threads.stdout.trim()));
    expect(e.signal).toBe(SIGSEGV);
  });

  it('reports a stack overflow as SIGSEGV', () => {
    const e = event(crashes.overflow);
    expect(e.signal).toBe(SIGSEGV);
    expect(e.verdict).toBe('ACCEPTED');
    expect(e.backtrace.length).toBeGreaterThan(0);
  });

  it('analyses a stripped binary by its build-id', () => {
    const e = event(crashes.stripped);
    const path = crasher('null-deref', 'stripped');
    expect(e.modules.find((m) => m.path === path)?.build_id).toBe(readelfBuildId(path));
    expect(e.fault_address).toBe(0);
  });

  it('analyses a static binary', () => {
    const e = event(crashes.staticBinary);
    const path = crasher('null-deref', 'static');
    expect(e.modules.find((m) => m.path === path)?.build_id).toBe(readelfBuildId(path));
    expect(e.signal).toBe(SIGSEGV);
  });

  it('reports a crash of the Python interpreter', () => {
    const e = event(crashes.python);
    expect(e.signal).toBe(SIGSEGV);
    expect(e.exe).toMatch(/\/python3/);
    expect(e.modules.some((m) => /libc\.so\.6$/.test(m.path))).toBe(true);
  });

  it("links the crashed process's ProcessExit to its Coredump event", () => {
    const e = event(crashes.readFirst);
    const exit = events.find(
      (x): x is ExitEvent =>
        x.type === 'exit' && (x as ExitEvent).process.pid === crashes.readFirst.pid,
    );
    expect(exit?.process.pidfs_ino).toBe(e.process.pidfs_ino);
    expect(exit?.core_dumped).toBe(true);
    expect((exit as Record<string, unknown> | undefined)?.coredump_seq).toBe(e.agent.seq);
  });
});
