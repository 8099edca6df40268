/**
 * A service the suites share (the Kafka broker, the schema registry), run by its own
 * scripts/<name>/start.sh and stop.sh. Several test runs on one machine may use it at once:
 * each registers its pid, and only the last one out stops it, and only when the tests started
 * it (one started by hand is used and left running).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { packageRoot } from '../../common/paths.js';

const run = promisify(execFile);

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

export class SharedService {
  readonly #scripts: string;
  readonly #home: string;
  readonly #pidFile: string;

  /** `name` is the folder under scripts/; `pidFile` the file its start.sh writes, in .cache. */
  constructor(name: string, pidFile: string) {
    this.#scripts = join(packageRoot(), 'scripts', name);
    this.#home = join(packageRoot(), '.cache', name);
    this.#pidFile = join(this.#home, pidFile);
  }

  running(): boolean {
    if (!existsSync(this.#pidFile)) return false;
    return alive(Number(readFileSync(this.#pidFile, 'utf8').trim()));
  }

  /** Starts it (building or fetching it on first use) and returns what start.sh printed. */
  async start(): Promise<string> {
    const { stdout } = await run('bash', [join(this.#scripts, 'start.sh')], { timeout: 900_000 });
    return stdout.trim().split('\n').pop() as string;
  }

  async stop(): Promise<void> {
    await run('bash', [join(this.#scripts, 'stop.sh')], { timeout: 120_000 });
  }

  async acquire(): Promise<string> {
    mkdirSync(this.#users(), { recursive: true });
    writeFileSync(join(this.#users(), String(process.pid)), '');
    if (!this.running()) writeFileSync(this.#startedByTests(), '');
    return this.start();
  }

  async release(): Promise<void> {
    rmSync(join(this.#users(), String(process.pid)), { force: true });
    const others = readdirSync(this.#users()).filter((name) => {
      if (alive(Number(name))) return true;
      rmSync(join(this.#users(), name), { force: true });
      return false;
    });
    if (others.length > 0 || !existsSync(this.#startedByTests())) return;
    rmSync(this.#startedByTests(), { force: true });
    await this.stop();
  }

  #users(): string {
    return join(this.#home, 'users');
  }

  #startedByTests(): string {
    return join(this.#home, 'started-by-tests');
  }
}
