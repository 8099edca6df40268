/**
 * The C programs in test/fixtures/crashers, built with gcc once per source and flags into a
 * cache directory, and a way to crash one (or any command) into a real core file.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { packageRoot } from '../../common/paths.js';
import { withCorePattern, writeCorePattern } from './core-pattern.js';

export type CrasherName = 'null-deref' | 'abort' | 'threads' | 'stack-overflow';

/**
 * `frame-pointer`: built with frame pointers, so the rbp chain holds; `stripped`: the same
 * binary with its symbols stripped (the build-id note stays); `static`: linked with -static.
 */
export type CrasherVariant = 'frame-pointer' | 'stripped' | 'static';

const CACHE_ROOT = '/tmp/pidstream-crashers';
// -O0 so that every function, leaves included, sets up its frame: gcc leaves out the frame of
// a leaf that needs no stack even with -fno-omit-frame-pointer once it optimises.
/** The .note.package (systemd's ELF package metadata) the crashers carry. */
export const CRASHER_PACKAGE =
  '{"type":"deb","os":"debian","name":"pidstream-crashers","version":"1"}';
const BASE_FLAGS = [
  '-O0',
  '-g',
  '-fno-omit-frame-pointer',
  '-pthread',
  '-Wl,--build-id=sha1',
  '-Xlinker',
  `--package-metadata=${CRASHER_PACKAGE}`,
];
const VARIANT_FLAGS: Record<CrasherVariant, string[]> = {
  'frame-pointer': [],
  stripped: [],
  static: ['-static'],
};

function gccVersion(): string {
  return execFileSync('gcc', ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? '';
}

/** Builds (once) and returns the path of a crasher binary. */
export function crasher(name: CrasherName, variant: CrasherVariant = 'frame-pointer'): string {
  const source = join(packageRoot(), 'test', 'fixtures', 'crashers', `${name}.c`);
  const flags = [...BASE_FLAGS, ...VARIANT_FLAGS[variant]];
  const key = createHash('sha256')
    .update(readFileSync(source))
    .update(flags.join(' '))
    .update(variant)
    .update(gccVersion())
    .digest('hex')
    .slice(0, 16);
  const dir = join(CACHE_ROOT, key);
  const binary = join(dir, `${name}-${variant}`);
  if (existsSync(binary)) return binary;

  mkdirSync(dir, { recursive: true });
  const building = `${binary}.${process.pid}.tmp`;
  execFileSync('gcc', [...flags, '-o', building, source]);
  if (variant === 'stripped') execFileSync('strip', ['--strip-all', building]);
  renameSync(building, binary);
  return binary;
}

export interface CrashedProcess {
  pid: number;
  /** The signal that ended the process, as Node names it. */
  signal: NodeJS.Signals | null;
  stdout: string;
  /** The core file the kernel wrote. */
  core: string;
  /** Removes the core and its directory. */
  dispose(): void;
}

/** How long a crasher may take to die and dump. */
const CRASH_TIMEOUT_MS = 60_000;

/**
 * Runs `argv` with an unlimited core size and core_pattern pointed at a fresh temporary
 * directory, waits for it to die, and returns the core it left. core_pattern is restored
 * whatever happens (withCorePattern).
 */
export async function crashWithCore(argv: string[]): Promise<CrashedProcess> {
  const dir = mkdtempSync(join(tmpdir(), 'pidstream-core-'));
  try {
    return await withCorePattern(async () => {
      writeCorePattern(join(dir, 'core.%p'));
      const { pid, signal, stdout } = await run(argv);
      const cores = readdirSync(dir);
      if (cores.length !== 1) {
        throw new Error(
          `${argv.join(' ')} died by ${signal} but left ${cores.length} cores in ${dir}`,
        );
      }
      return {
        pid,
        signal,
        stdout,
        core: join(dir, cores[0] as string),
        dispose: () => rmSync(dir, { recursive: true, force: true }),
      };
    });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

function run(
  argv: string[],
): Promise<{ pid: number; signal: NodeJS.Signals | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', 'ulimit -c unlimited; exec "$0" "$@"', ...argv], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), CRASH_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(timer);
      if (child.pid === undefined) reject(new Error(`${argv[0]} did not start`));
      else resolve({ pid: child.pid, signal, stdout });
    });
  });
}

/** The GNU build-id `readelf -n` prints for an ELF file. */
export function readelfBuildId(path: string): string {
  const out = execFileSync('readelf', ['-n', path], { encoding: 'utf8' });
  const match = /Build ID: ([0-9a-f]+)/.exec(out);
  if (match?.[1] === undefined) throw new Error(`readelf -n ${path} shows no build-id`);
  return match[1];
}

/** [start, end) of a function symbol, as `nm -S` gives it (addresses in the ELF file). */
const nmOutputs = new Map<string, string>();

export function symbolRange(path: string, symbol: string): [number, number] {
  let out = nmOutputs.get(path);
  if (out === undefined) {
    out = execFileSync('nm', ['-S', '--defined-only', path], { encoding: 'utf8' });
    nmOutputs.set(path, out);
  }
  for (const line of out.split('\n')) {
    const [addr, size, , name] = line.split(' ');
    if (name === symbol && addr !== undefined && size !== undefined) {
      const start = parseInt(addr, 16);
      return [start, start + parseInt(size, 16)];
    }
  }
  throw new Error(`nm -S ${path} has no symbol ${symbol}`);
}
