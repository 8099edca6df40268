/**
 * Property: whatever bytes arrive as a core (a real core with damaged headers, notes, stack or
 * module pages, cut anywhere; or noise), the analyser returns an analysis, never throws, keeps
 * every number within an Avro long, and its memory never passes the cap.
 *
 * A seeded, small run belongs to the normal suite. `npm run bench:fuzz-analyser` sets
 * ANALYSER_FUZZ_RUNS for a long run that counts failures instead of stopping at the first, and
 * prints runs per second beside a baseline of the undamaged core analysed in the same run.
 */
import { readFileSync } from 'node:fs';

import fc from 'fast-check';
import { afterAll, beforeAll, expect, test } from 'vitest';

import {
  analyserCaps,
  MEMORY_CAP_BYTES,
  memoryHighWater,
  type CoreAnalysis,
  type CoreRange,
} from '../workers/analyser/index.js';
import { analyseCoreBytes, type StreamedAnalysis } from './support/core-stream.js';
import { crasher, crashWithCore, type CrashedProcess } from './support/crashers.js';

const BENCH_RUNS = Number(process.env.ANALYSER_FUZZ_RUNS ?? 0);
const RUNS = BENCH_RUNS > 0 ? BENCH_RUNS : 150;
const SEED = 0x5eed;
const LIMIT = 2 ** 52;

let crashes: CrashedProcess[] = [];
let cores: Buffer[] = [];
/** Per core: the head and planned ranges, where damage reaches the parser. */
let hot: CoreRange[][] = [];

beforeAll(async () => {
  crashes = [
    await crashWithCore([crasher('null-deref'), 'read']),
    await crashWithCore([crasher('threads')]),
  ];
  cores = crashes.map((c) => readFileSync(c.core));
  hot = cores.map((core) => {
    const streamed = analyseCoreBytes(core);
    return [{ offset: 0, length: streamed.headBytes }, ...streamed.ranges];
  });
});
afterAll(() => crashes.forEach((c) => c.dispose()));

type Edit = { region: number; at: number; width: 1 | 4 | 8; value: bigint };
type Damage = { core: number; edits: Edit[]; cutAt: number | null };
type Input = { kind: 'damaged'; damage: Damage } | { kind: 'noise'; bytes: Uint8Array };

const interesting = fc.constantFrom(
  0n,
  1n,
  0x38n,
  0x1000n,
  0x7fffffffn,
  0xffffffffn,
  2n ** 63n,
  2n ** 64n - 1n,
);
const edit: fc.Arbitrary<Edit> = fc.record({
  region: fc.nat(),
  at: fc.nat(),
  width: fc.constantFrom<1 | 4 | 8>(1, 4, 8),
  value: fc.oneof(interesting, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
});
const damage: fc.Arbitrary<Damage> = fc.record({
  core: fc.nat(),
  edits: fc.array(edit, { minLength: 1, maxLength: 12 }),
  cutAt: fc.option(fc.nat(), { freq: 4 }),
});
const noise = fc.oneof(
  fc.uint8Array({ maxLength: 4096 }),
  // An ELF core header on noise, so the parser gets past the first check.
  fc.uint8Array({ minLength: 64, maxLength: 65536 }).map((b) => withCoreHeader(b)),
);
const input: fc.Arbitrary<Input> = fc.oneof(
  { weight: 4, arbitrary: damage.map((d) => ({ kind: 'damaged' as const, damage: d })) },
  { weight: 1, arbitrary: noise.map((b) => ({ kind: 'noise' as const, bytes: b })) },
);

function withCoreHeader(bytes: Uint8Array): Uint8Array {
  bytes.set((cores[0] as Buffer).subarray(0, 64));
  return bytes;
}

function damaged(d: Damage): Uint8Array {
  const base = cores[d.core % cores.length] as Buffer;
  const regions = hot[d.core % cores.length] as CoreRange[];
  const bytes = new Uint8Array(base);
  const view = new DataView(bytes.buffer);
  for (const e of d.edits) {
    const r = regions[e.region % regions.length] as CoreRange;
    const at = r.offset + (e.at % Math.max(1, r.length - e.width));
    if (at + e.width > bytes.length) continue;
    if (e.width === 1) view.setUint8(at, Number(e.value & 0xffn));
    else if (e.width === 4) view.setUint32(at, Number(e.value & 0xffffffffn), true);
    else view.setBigUint64(at, e.value, true);
  }
  return d.cutAt === null ? bytes : bytes.subarray(0, d.cutAt % (bytes.length + 1));
}

/** Why an analysis breaks the property, or null when it holds. */
function violation(run: () => StreamedAnalysis): string | null {
  let streamed: StreamedAnalysis;
  try {
    streamed = run();
  } catch (err) {
    return `threw ${String(err)}`;
  }
  const a = streamed.analysis;
  if (memoryHighWater() > MEMORY_CAP_BYTES) return `memory reached ${memoryHighWater()}`;
  const planned = streamed.ranges.reduce((sum, r) => sum + r.length, 0);
  if (planned > analyserCaps().maxRangeBytes) return `planned ${planned} bytes of ranges`;
  const numbers = [a.signal, a.si_code, a.fault_address, a.thread_count, a.crashing_tid, a.pid];
  numbers.push(...a.modules.flatMap((m) => [m.start, m.end]), ...a.backtrace.map((f) => f.offset));
  const bad = numbers.find((n) => n !== null && !(Number.isSafeInteger(n) && Math.abs(n) <= LIMIT));
  if (bad !== undefined) return `number ${bad} does not fit an Avro long`;
  if (a.signature !== null && !/^[0-9a-f]{64}$/.test(a.signature)) {
    return `signature ${a.signature}`;
  }
  return null;
}

function analyseInput(i: Input): StreamedAnalysis {
  return analyseCoreBytes(i.kind === 'damaged' ? damaged(i.damage) : i.bytes);
}

test(
  'returns an analysis within the memory cap for any damaged core or noise',
  () => {
    if (BENCH_RUNS === 0) {
      fc.assert(
        fc.property(input, (i) => {
          expect(violation(() => analyseInput(i))).toBeNull();
        }),
        { seed: SEED, numRuns: RUNS },
      );
      return;
    }

    const baseline = timeRuns(
      Math.min(RUNS, 2000),
      () => analyseCoreBytes(cores[0] as Buffer).analysis,
    );
    const failures: string[] = [];
    const started = performance.now();
    fc.assert(
      fc.property(input, (i) => {
        const why = violation(() => analyseInput(i));
        if (why !== null) failures.push(`${why} for ${fc.stringify(i).slice(0, 200)}`);
      }),
      { seed: SEED, numRuns: RUNS },
    );
    const seconds = (performance.now() - started) / 1000;
    const perSecond = Math.round(RUNS / seconds);
    console.table({
      'undamaged core (baseline)': {
        runs: baseline.runs,
        'runs/s': baseline.perSecond,
        'vs baseline': 1,
        failures: 0,
      },
      'damaged cores and noise': {
        runs: RUNS,
        'runs/s': perSecond,
        'vs baseline': Number((perSecond / baseline.perSecond).toFixed(2)),
        failures: failures.length,
      },
    });
    console.log(`memory high water ${memoryHighWater()} bytes of ${MEMORY_CAP_BYTES}`);
    for (const f of failures.slice(0, 20)) console.log(f);
    expect(failures).toEqual([]);
  },
  BENCH_RUNS > 0 ? 3_600_000 : 120_000,
);

function timeRuns(runs: number, body: () => CoreAnalysis): { runs: number; perSecond: number } {
  const started = performance.now();
  for (let i = 0; i < runs; i++) body();
  return { runs, perSecond: Math.round(runs / ((performance.now() - started) / 1000)) };
}
