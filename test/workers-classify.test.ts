import { describe, expect, it } from 'vitest';

import { signalName } from '../workers/signals.js';
import { classify, splitWaitStatus } from '../workers/wait-status.js';

describe('wait status and classification', () => {
  it.each([
    // status, exit code, signal, core dumped, oom flag, classification
    [0x0000, 0, null, false, false, 'CLEAN'],
    [0x0100, 1, null, false, false, 'ERROR'],
    [0xff00, 255, null, false, false, 'ERROR'],
    [0x0009, null, 9, false, false, 'KILLED'],
    [0x000f, null, 15, false, false, 'KILLED'],
    [0x008b, null, 11, true, false, 'CRASHED'],
    [0x0086, null, 6, true, false, 'CRASHED'],
    [0x0009, null, 9, false, true, 'OOM_KILLED'],
    [0x000f, null, 15, false, true, 'KILLED'],
    [0x0089, null, 9, true, true, 'CRASHED'],
  ] as const)(
    'status %s: exit %s, signal %s, core %s, oom %s is %s',
    (s, code, sig, core, oom, cls) => {
      const status = splitWaitStatus(s);
      expect(status).toEqual({ exitCode: code, signal: sig, coreDumped: core });
      expect(classify(status, oom)).toBe(cls);
    },
  );

  it('is UNKNOWN without a status and for a stopped status', () => {
    expect(classify(splitWaitStatus(null), false)).toBe('UNKNOWN');
    expect(splitWaitStatus(0x137f)).toEqual({ exitCode: null, signal: null, coreDumped: false });
    expect(classify(splitWaitStatus(0x137f), true)).toBe('UNKNOWN');
  });

  it('names classic and real-time signals the way the kernel numbers them', () => {
    expect(signalName(1)).toBe('SIGHUP');
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(11)).toBe('SIGSEGV');
    expect(signalName(31)).toBe('SIGSYS');
    expect(signalName(32)).toBe('SIGRTMIN');
    expect(signalName(34)).toBe('SIGRTMIN+2');
    expect(signalName(64)).toBe('SIGRTMAX');
    expect(signalName(0)).toBeNull();
    expect(signalName(65)).toBeNull();
  });
});
