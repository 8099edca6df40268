/**
 * Cut, damaged and foreign input: the analyser answers with analysis_error and whatever it
 * could still read, never with an exception, and never past its memory cap.
 */
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import {
  analyseCore,
  analyserCaps,
  MEMORY_CAP_BYTES,
  memoryHighWater,
  planCore,
} from '../workers/analyser/index.js';
import { analyseCoreBytes } from './support/core-stream.js';
import { crasher, crashWithCore, type CrashedProcess } from './support/crashers.js';

let crash: CrashedProcess;
let core: Buffer;

beforeAll(async () => {
  crash = await crashWithCore([crasher('null-deref'), 'read']);
  core = readFileSync(crash.core);
});
afterAll(() => crash?.dispose());

/** Where the program headers and the notes end, read from the core's own ELF header. */
function layout(): { phEnd: number; notesEnd: number } {
  const phoff = Number(core.readBigUInt64LE(32));
  const phnum = core.readUInt16LE(56);
  let notesEnd = 0;
  for (let i = 0; i < phnum; i++) {
    const ph = phoff + i * 56;
    if (core.readUInt32LE(ph) !== 4) continue;
    notesEnd = Math.max(
      notesEnd,
      Number(core.readBigUInt64LE(ph + 8) + core.readBigUInt64LE(ph + 32)),
    );
  }
  return { phEnd: phoff + phnum * 56, notesEnd };
}

/** Core-file offset of the value of auxv entry `type` in the NT_AUXV note. */
function auxvValueOffset(type: bigint): number {
  const { phEnd, notesEnd } = layout();
  for (let at = phEnd; at + 12 <= notesEnd;) {
    const namesz = core.readUInt32LE(at);
    const descsz = core.readUInt32LE(at + 4);
    const desc = at + 12 + Math.ceil(namesz / 4) * 4;
    if (core.readUInt32LE(at + 8) === 6) {
      for (let e = desc; e < desc + descsz; e += 16) {
        if (core.readBigUInt64LE(e) === type) return e + 8;
      }
    }
    at = desc + Math.ceil(descsz / 4) * 4;
  }
  throw new Error(`no auxv entry ${type} in the core`);
}

/** Core-file offset of the program header of the PT_LOAD at `vaddr`. */
function loadHeaderAt(vaddr: bigint): number {
  const phoff = Number(core.readBigUInt64LE(32));
  for (let i = 0; i < core.readUInt16LE(56); i++) {
    const ph = phoff + i * 56;
    if (core.readUInt32LE(ph) === 1 && core.readBigUInt64LE(ph + 16) === vaddr) return ph;
  }
  throw new Error(`no PT_LOAD at ${vaddr.toString(16)}`);
}

describe('planning', () => {
  test('asks for the program headers, then the notes, then names ranges past them', () => {
    const { phEnd, notesEnd } = layout();
    expect(planCore(core.subarray(0, 10))).toEqual({ needHead: 64 });
    expect(planCore(core.subarray(0, 64))).toEqual({ needHead: phEnd });
    expect(planCore(core.subarray(0, phEnd))).toEqual({ needHead: notesEnd });
    const plan = planCore(core.subarray(0, notesEnd));
    expect('ranges' in plan && plan.ranges.length).toBe(5);
    if (!('ranges' in plan)) return;
    for (const r of plan.ranges) expect(r.offset).toBeGreaterThanOrEqual(notesEnd);
    expect(plan.ranges.map((r) => r.offset)).toEqual(
      [...plan.ranges.map((r) => r.offset)].sort((a, b) => a - b),
    );
  });

  test('states the caps on the head, the ranges and its memory', () => {
    expect(analyserCaps()).toEqual({
      maxHeadBytes: 16 << 20,
      maxRangeBytes: 4 << 20,
      memoryCapBytes: 64 << 20,
    });
  });

  test('plans nothing for bytes that are not an ELF core', () => {
    expect(planCore(new Uint8Array(4096).fill(0x41))).toEqual({ ranges: [] });
    expect(planCore(readFileSync(crasher('null-deref')))).toEqual({ ranges: [] });
  });
});

describe('analysis', () => {
  test('reads the notes that arrived when the core is cut before its notes end', () => {
    const { notesEnd } = layout();
    const cut = notesEnd - 100;
    const a = analyseCore(core.subarray(0, cut), [], cut, true);
    expect(a.analysis_error).toBe(`the core ends at byte ${cut}, before its notes do`);
    expect([a.signal, a.si_code, a.fault_address, a.thread_count]).toEqual([11, 1, 0, 1]);
    expect(a.backtrace.map((f) => f.method)).toEqual(['PC']);
  });

  test('reports a core cut inside its program headers, with no result fields', () => {
    const a = analyseCore(core.subarray(0, 100), [], 100, true);
    expect(a.analysis_error).toBe('the core ends at byte 100, before its notes do');
    expect(a.signal).toBeNull();
    expect(a.backtrace).toEqual([]);
  });

  test('keeps what the notes say when the planned ranges never arrived', () => {
    const { notesEnd } = layout();
    const a = analyseCore(core.subarray(0, notesEnd), [], notesEnd, true);
    expect(a.analysis_error).toBe(
      `5 planned ranges were not supplied (the core was truncated at ${notesEnd} bytes)`,
    );
    expect([a.signal, a.si_code, a.fault_address, a.thread_count]).toEqual([11, 1, 0, 1]);
    expect(a.modules.map((m) => m.build_id)).toEqual([null, null, null, null]);
    expect(a.backtrace.map((f) => f.method)).toEqual(['PC']);
  });

  // Regression: a vDSO moved to 2^62 (AT_SYSINFO_EHDR and its segment) became a module whose
  // start no JavaScript number holds exactly, which avsc refuses to encode as a long.
  test('leaves out a vDSO whose address does not fit a long', () => {
    const moved = Buffer.from(core);
    const auxv = auxvValueOffset(33n);
    const ph = loadHeaderAt(core.readBigUInt64LE(auxv));
    moved.writeBigUInt64LE(2n ** 62n, auxv);
    moved.writeBigUInt64LE(2n ** 62n, ph + 16);

    const a = analyseCoreBytes(moved).analysis;
    expect(a.modules.map((m) => m.path)).not.toContain('[vdso]');
    expect(a.modules.map((m) => m.path)).toContain('/usr/lib/x86_64-linux-gnu/libc.so.6');
    for (const m of a.modules) expect(Number.isSafeInteger(m.start)).toBe(true);
  });

  test('reads at most 16 MiB of notes when every program header points at the same notes', () => {
    const phnum = 65534;
    const notesAt = 64 + phnum * 56;
    const notesBytes = 12 * 87381; // empty notes: a 12-byte header each, about 1 MiB
    const forged = Buffer.alloc(notesAt + notesBytes);
    forged.writeUInt32LE(0x464c457f, 0);
    forged.set([2, 1, 1], 4);
    forged.writeUInt16LE(4, 16); // ET_CORE
    forged.writeUInt16LE(62, 18); // EM_X86_64
    forged.writeBigUInt64LE(64n, 32);
    forged.writeUInt16LE(56, 54);
    forged.writeUInt16LE(phnum, 56);
    for (let i = 0; i < phnum; i++) {
      const ph = 64 + i * 56;
      forged.writeUInt32LE(4, ph); // PT_NOTE
      forged.writeBigUInt64LE(BigInt(notesAt), ph + 8);
      forged.writeBigUInt64LE(BigInt(notesBytes), ph + 32);
    }

    const a = analyseCoreBytes(forged).analysis;
    expect(a.analysis_error).toBe(
      'notes past 16777216 bytes in total not read; the core holds no NT_PRSTATUS note',
    );
    expect(a.thread_count).toBeNull();
  });

  test('names a program that is not a core', () => {
    const binary = readFileSync(crasher('null-deref'));
    const a = analyseCoreBytes(binary).analysis;
    expect(a.analysis_error).toBe('not an x86-64 core (e_type 3, e_machine 62)');
    expect(a.signature).toBeNull();
  });

  test('names bytes that are not ELF at all', () => {
    expect(analyseCoreBytes(new Uint8Array(100)).analysis.analysis_error).toBe('not an ELF file');
    expect(analyseCoreBytes(new Uint8Array(0)).analysis.analysis_error).toBe(
      'the core ends at byte 0, before its notes do',
    );
  });

  test('reports the memory cap, and stays under it, when handed more bytes than it holds', () => {
    const { notesEnd } = layout();
    const chunk = new Uint8Array(8 << 20);
    const ranges = Array.from({ length: 10 }, (_, i) => ({
      offset: notesEnd + i * chunk.length,
      bytes: chunk,
    }));
    const a = analyseCore(core.subarray(0, notesEnd), ranges, core.length, false);
    expect(a.analysis_error).toBe(`analyser reached its ${MEMORY_CAP_BYTES >> 20} MiB memory cap`);
    expect(memoryHighWater()).toBeLessThanOrEqual(MEMORY_CAP_BYTES);
  });
});
