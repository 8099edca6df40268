/**
 * The crashes of the synthetic fleet: a catalogue of distinct bugs, each a program, a signal
 * and a backtrace, ranked so that popularity follows a Zipf law (a few crashes account for
 * most reports, a long tail is seen once or twice), as crash reporters observe in practice.
 */
import { createHash } from 'node:crypto';

import { Prng, WeightedChoice, zipfWeights } from './prng.js';
import { PROGRAMS, ProgramName } from './fleet.js';

export interface Frame {
  module: string;
  build_id: string;
  offset: number;
  method: 'PC' | 'FRAME_POINTER' | 'STACK_SCAN';
}

export interface Module {
  path: string;
  start: number;
  end: number;
  build_id: string;
  package: string | null;
}

export interface Crash {
  program: ProgramName;
  signal: number;
  /** si_code as the kernel reports it for this signal (SEGV_MAPERR, SI_TKILL, BUS_ADRERR…). */
  siCode: number;
  modules: readonly Module[];
  backtrace: readonly Frame[];
  signature: string;
}

/** Signal numbers from the kernel's uapi asm-generic/signal.h (x86-64 uses these values). */
export const SIGNALS = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGSEGV: 11,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
} as const;

export type SignalName = keyof typeof SIGNALS;

/** Signals that end a crashing process, by how often each appears in crash reports. */
export const CRASH_SIGNALS = new WeightedChoice<SignalName>([
  ['SIGSEGV', 62],
  ['SIGABRT', 25],
  ['SIGBUS', 4],
  ['SIGFPE', 4],
  ['SIGILL', 3],
  ['SIGTRAP', 2],
]);

/** si_code values from uapi asm-generic/siginfo.h: the usual cause of each crash signal. */
const SI_CODE: Record<number, number> = {
  [SIGNALS.SIGSEGV]: 1, // SEGV_MAPERR
  [SIGNALS.SIGABRT]: -6, // SI_TKILL: abort() raises it with tgkill
  [SIGNALS.SIGBUS]: 2, // BUS_ADRERR
  [SIGNALS.SIGFPE]: 1, // FPE_INTDIV
  [SIGNALS.SIGILL]: 2, // ILL_ILLOPN
  [SIGNALS.SIGTRAP]: 1, // TRAP_BRKPT
};

const LIBC = '/usr/lib/x86_64-linux-gnu/libc.so.6';
const SHARED_LIBS = [
  LIBC,
  '/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30',
  '/usr/lib/x86_64-linux-gnu/libssl.so.3',
  '/usr/lib/x86_64-linux-gnu/libz.so.1.2.13',
  '/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2',
];

/** Build ids of the fleet's binaries: one per path, fixed for a run. */
export class BuildIds {
  readonly #ids = new Map<string, string>();
  readonly #prng: Prng;

  constructor(prng: Prng) {
    this.#prng = prng;
  }

  of(path: string): string {
    let id = this.#ids.get(path);
    if (id === undefined) {
      id = this.#prng.hex(20);
      this.#ids.set(path, id);
    }
    return id;
  }
}

const CRASHY = new WeightedChoice<ProgramName>(
  (Object.keys(PROGRAMS) as ProgramName[]).map((name) => [name, PROGRAMS[name].crashiness]),
);

/** One distinct bug of `program` (or of a program drawn by crashiness), with its signature. */
export function makeCrash(
  prng: Prng,
  buildIds: BuildIds,
  program: ProgramName = CRASHY.pick(prng),
  exeBuildId?: string,
): Crash {
  const exe = PROGRAMS[program].exe;
  const exeId = exeBuildId ?? buildIds.of(exe);
  const signal = SIGNALS[CRASH_SIGNALS.pick(prng)];
  const modules = layOutModules(prng, buildIds, exe, exeId);
  const depth = prng.between(3, 12);
  const backtrace: Frame[] = [];
  for (let i = 0; i < depth; i++) {
    // abort() crashes start in libc (raise, abort) before reaching the program's own frames.
    const inLibc = signal === SIGNALS.SIGABRT && i < 2;
    const module = inLibc ? (modules[1] as Module) : prng.pick(modules.slice(0, 3));
    backtrace.push({
      module: module.path,
      build_id: module.build_id,
      offset: prng.int(module.end - module.start),
      method: i === 0 ? 'PC' : 'FRAME_POINTER',
    });
  }
  const signature = crashSignature(exeId, signal, backtrace);
  return { program, signal, siCode: SI_CODE[signal] ?? 0, modules, backtrace, signature };
}

/** The executable first, then libc and the other shared libraries, at realistic addresses. */
function layOutModules(prng: Prng, buildIds: BuildIds, exe: string, exeId: string): Module[] {
  const modules: Module[] = [];
  let base = 0x5555_5555_4000 + prng.int(0x1000) * 0x1000;
  const exeSize = prng.between(0x40, 0x4000) * 0x1000;
  modules.push({ path: exe, start: base, end: base + exeSize, build_id: exeId, package: null });
  base = 0x7f00_0000_0000 + prng.int(0x10000) * 0x1000;
  for (const path of SHARED_LIBS) {
    const size = prng.between(0x20, 0x300) * 0x1000;
    const pkg = path === LIBC ? '{"type":"deb","name":"libc6","version":"2.36-9"}' : null;
    modules.push({
      path,
      start: base,
      end: base + size,
      build_id: buildIds.of(path),
      package: pkg,
    });
    base += size + 0x1000 * prng.between(1, 16);
  }
  return modules;
}

/** Top frames that make a signature: deeper frames vary with the caller, not the bug. */
export const SIGNATURE_FRAMES = 5;

/** Hex SHA-256 of the executable's build-id, the signal and the top frames (build-id+offset). */
export function crashSignature(
  exeBuildId: string,
  signal: number,
  frames: readonly Frame[],
): string {
  const hash = createHash('sha256').update(`${exeBuildId}\n${signal}\n`);
  for (const frame of frames.slice(0, SIGNATURE_FRAMES)) {
    hash.update(`${frame.build_id}+${frame.offset.toString(16)}\n`);
  }
  return hash.digest('hex');
}

/** The catalogue: crash of rank k (from 1) is drawn with probability ∝ 1 / k^exponent. */
export class CrashCatalogue {
  readonly crashes: readonly Crash[];
  readonly #choice: WeightedChoice<Crash>;

  constructor(prng: Prng, buildIds: BuildIds, size: number, exponent: number) {
    const crashes: Crash[] = [];
    for (let i = 0; i < size; i++) crashes.push(makeCrash(prng, buildIds));
    this.crashes = crashes;
    const weights = zipfWeights(size, exponent);
    this.#choice = new WeightedChoice(crashes.map((crash, i) => [crash, weights[i] as number]));
  }

  draw(prng: Prng): Crash {
    return this.#choice.pick(prng);
  }
}
