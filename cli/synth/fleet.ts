/**
 * The fleet `pidstream synth` imagines: a catalogue of programs as they run on typical Linux
 * servers (their units, users, lifetimes and how they fail) and hosts of a few roles, each
 * with its own boot, agent instance and process numbering.
 */
import { Sequencer } from '../../ingest/sequencer.js';
import { Prng, WeightedChoice } from './prng.js';

export interface Program {
  exe: string;
  argv: readonly string[];
  /** systemd unit, or null for a Kubernetes container (named by its pod). */
  unit: string | null;
  slice: string;
  user: string;
  uid: number;
  /** Median lifetime in microseconds and the spread of its logarithm. */
  lifetimeUs: number;
  lifetimeSigma: number;
  /** Runs often enough to be killed by the OOM killer. */
  memoryHungry: boolean;
  /** Relative share of the fleet's crashes that hit this program. */
  crashiness: number;
}

const S = 1_000_000;

/** Every program the synthetic fleet runs. Lifetimes are medians seen on busy servers. */
export const PROGRAMS = {
  bash: prog(
    '/usr/bin/bash',
    ['/bin/bash', '-c', 'run-parts /etc/cron.hourly'],
    'cron.service',
    0,
    'root',
    2 * S,
    1.5,
    false,
    0.2,
  ),
  curl: prog(
    '/usr/bin/curl',
    ['curl', '-fsS', 'http://127.0.0.1:8080/healthz'],
    'healthcheck.service',
    0,
    'root',
    0.05 * S,
    0.8,
    false,
    0.1,
  ),
  nginx: prog(
    '/usr/sbin/nginx',
    ['nginx: worker process'],
    'nginx.service',
    33,
    'www-data',
    3600 * S,
    1.5,
    false,
    3,
  ),
  postgres: prog(
    '/usr/lib/postgresql/16/bin/postgres',
    ['postgres: 16/main: app appdb 10.0.3.7(51234) idle'],
    'postgresql@16-main.service',
    110,
    'postgres',
    30 * S,
    2,
    true,
    1.5,
  ),
  python: prog(
    '/usr/bin/python3.11',
    ['/usr/bin/python3', '-m', 'worker', '--queue', 'default'],
    'app-worker.service',
    1001,
    'app',
    600 * S,
    1.2,
    true,
    2,
  ),
  java: prog(
    '/usr/lib/jvm/java-17-openjdk-amd64/bin/java',
    ['java', '-Xmx4g', '-jar', '/opt/app/service.jar'],
    'app-api.service',
    1001,
    'app',
    86_400 * S,
    1,
    true,
    1.5,
  ),
  node: prog(
    '/usr/local/bin/node',
    ['node', '/app/server.js'],
    null,
    1000,
    'node',
    7200 * S,
    1.5,
    true,
    2.5,
  ),
  envoy: prog(
    '/usr/local/bin/envoy',
    ['envoy', '-c', '/etc/envoy/envoy.yaml'],
    null,
    101,
    'envoy',
    86_400 * S,
    1,
    false,
    1,
  ),
  sshd: prog(
    '/usr/sbin/sshd',
    ['sshd: deploy [priv]'],
    'ssh.service',
    0,
    'root',
    120 * S,
    2,
    false,
    0.3,
  ),
  git: prog(
    '/usr/bin/git',
    ['git', 'fetch', '--prune', 'origin'],
    'ci-runner.service',
    1002,
    'ci',
    1.5 * S,
    1,
    false,
    0.3,
  ),
  gcc: prog(
    '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
    ['/usr/lib/gcc/x86_64-linux-gnu/12/cc1', '-quiet', 'main.c'],
    'ci-runner.service',
    1002,
    'ci',
    0.8 * S,
    1,
    true,
    0.5,
  ),
  make: prog(
    '/usr/bin/make',
    ['make', '-j4', 'all'],
    'ci-runner.service',
    1002,
    'ci',
    20 * S,
    1.5,
    false,
    0.1,
  ),
  logrotate: prog(
    '/usr/sbin/logrotate',
    ['/usr/sbin/logrotate', '/etc/logrotate.conf'],
    'logrotate.service',
    0,
    'root',
    0.3 * S,
    0.7,
    false,
    0.1,
  ),
} as const satisfies Record<string, Program>;

export type ProgramName = keyof typeof PROGRAMS;

function prog(
  exe: string,
  argv: string[],
  unit: string | null,
  uid: number,
  user: string,
  lifetimeUs: number,
  lifetimeSigma: number,
  memoryHungry: boolean,
  crashiness: number,
): Program {
  const slice = unit === null ? 'kubepods-burstable.slice' : 'system.slice';
  return { exe, argv, unit, slice, user, uid, lifetimeUs, lifetimeSigma, memoryHungry, crashiness };
}

/** What a host does decides how often each program ends on it. */
export const ROLES = {
  web: { nginx: 4, curl: 30, bash: 3, sshd: 1, logrotate: 0.5 },
  db: { postgres: 25, curl: 10, bash: 3, sshd: 1, logrotate: 0.5 },
  worker: { python: 10, java: 2, curl: 15, bash: 4, sshd: 1 },
  k8s: { node: 6, envoy: 2, curl: 20, bash: 2 },
  ci: { git: 15, gcc: 30, make: 5, bash: 10, sshd: 1 },
} as const satisfies Record<string, Partial<Record<ProgramName, number>>>;

export type RoleName = keyof typeof ROLES;

const ROLE_MIX = new WeightedChoice<RoleName>([
  ['web', 3],
  ['db', 1],
  ['worker', 3],
  ['k8s', 4],
  ['ci', 1],
]);

/** A Kubernetes pod on a host: the container ids and pod uid its cgroup path names. */
export interface Pod {
  podUid: string;
  containerId: string;
}

export class Host {
  readonly name: string;
  readonly role: RoleName;
  readonly bootId: string;
  readonly sequencer: Sequencer;
  readonly programs: WeightedChoice<ProgramName>;
  /** Wall-clock microseconds of this host's latest event, so its own times never go back. */
  lastTimeUs = 0;
  #nextPid: number;
  #nextIno: number;
  readonly #cgroupBase: number;
  readonly #pods: Map<ProgramName, Pod> = new Map();
  readonly #prng: Prng;

  constructor(index: number, prng: Prng) {
    this.#prng = prng;
    this.role = ROLE_MIX.pick(prng);
    this.name = `${this.role}-${String(index + 1).padStart(3, '0')}.dc1.example.net`;
    this.bootId = prng.uuid();
    this.sequencer = new Sequencer({
      host: this.name,
      bootId: this.bootId,
      instanceId: prng.uuid(),
    });
    this.programs = new WeightedChoice(Object.entries(ROLES[this.role]) as [ProgramName, number][]);
    this.#nextPid = prng.between(900, 40_000);
    // pidfs numbers every process of a boot from a counter that starts near the boot's own
    // processes; a host that has been up for a while is far along it.
    this.#nextIno = prng.between(3_000, 2_000_000);
    this.#cgroupBase = prng.between(2_000, 90_000);
  }

  /** A fresh pid and pidfs inode, as the kernel hands them to the next process. */
  nextProcess(): { pid: number; pidfsIno: number } {
    this.#nextPid += this.#prng.between(1, 40);
    if (this.#nextPid > 4_194_304) this.#nextPid = 300 + this.#prng.int(1000);
    this.#nextIno += this.#prng.between(1, 40);
    return { pid: this.#nextPid, pidfsIno: this.#nextIno };
  }

  cgroupId(program: ProgramName): number {
    return this.#cgroupBase + Object.keys(PROGRAMS).indexOf(program);
  }

  pod(program: ProgramName): Pod {
    let pod = this.#pods.get(program);
    if (pod === undefined) {
      pod = { podUid: this.#prng.uuid(), containerId: this.#prng.hex(32) };
      this.#pods.set(program, pod);
    }
    return pod;
  }
}

export function buildFleet(count: number, prng: Prng): Host[] {
  const hosts: Host[] = [];
  for (let i = 0; i < count; i++) hosts.push(new Host(i, prng));
  return hosts;
}
