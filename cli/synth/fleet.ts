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

/** Every program the synthetic fleet runs. Lifetimes (seconds) are medians seen on busy servers. */
export const PROGRAMS = {
  bash: prog({
    exe: '/usr/bin/bash',
    argv: ['/bin/bash', '-c', 'run-parts /etc/cron.hourly'],
    unit: 'cron.service',
    uid: 0,
    user: 'root',
    lifetimeS: 2,
    lifetimeSigma: 1.5,
    memoryHungry: false,
    crashiness: 0.2,
  }),
  curl: prog({
    exe: '/usr/bin/curl',
    argv: ['curl', '-fsS', 'http://127.0.0.1:8080/healthz'],
    unit: 'healthcheck.service',
    uid: 0,
    user: 'root',
    lifetimeS: 0.05,
    lifetimeSigma: 0.8,
    memoryHungry: false,
    crashiness: 0.1,
  }),
  nginx: prog({
    exe: '/usr/sbin/nginx',
    argv: ['nginx: worker process'],
    unit: 'nginx.service',
    uid: 33,
    user: 'www-data',
    lifetimeS: 3600,
    lifetimeSigma: 1.5,
    memoryHungry: false,
    crashiness: 3,
  }),
  postgres: prog({
    exe: '/usr/lib/postgresql/16/bin/postgres',
    argv: ['postgres: 16/main: app appdb 10.0.3.7(51234) idle'],
    unit: 'postgresql@16-main.service',
    uid: 110,
    user: 'postgres',
    lifetimeS: 30,
    lifetimeSigma: 2,
    memoryHungry: true,
    crashiness: 1.5,
  }),
  python: prog({
    exe: '/usr/bin/python3.11',
    argv: ['/usr/bin/python3', '-m', 'worker', '--queue', 'default'],
    unit: 'app-worker.service',
    uid: 1001,
    user: 'app',
    lifetimeS: 600,
    lifetimeSigma: 1.2,
    memoryHungry: true,
    crashiness: 2,
  }),
  java: prog({
    exe: '/usr/lib/jvm/java-17-openjdk-amd64/bin/java',
    argv: ['java', '-Xmx4g', '-jar', '/opt/app/service.jar'],
    unit: 'app-api.service',
    uid: 1001,
    user: 'app',
    lifetimeS: 86_400,
    lifetimeSigma: 1,
    memoryHungry: true,
    crashiness: 1.5,
  }),
  node: prog({
    exe: '/usr/local/bin/node',
    argv: ['node', '/app/server.js'],
    unit: null,
    uid: 1000,
    user: 'node',
    lifetimeS: 7200,
    lifetimeSigma: 1.5,
    memoryHungry: true,
    crashiness: 2.5,
  }),
  envoy: prog({
    exe: '/usr/local/bin/envoy',
    argv: ['envoy', '-c', '/etc/envoy/envoy.yaml'],
    unit: null,
    uid: 101,
    user: 'envoy',
    lifetimeS: 86_400,
    lifetimeSigma: 1,
    memoryHungry: false,
    crashiness: 1,
  }),
  sshd: prog({
    exe: '/usr/sbin/sshd',
    argv: ['sshd: deploy [priv]'],
    unit: 'ssh.service',
    uid: 0,
    user: 'root',
    lifetimeS: 120,
    lifetimeSigma: 2,
    memoryHungry: false,
    crashiness: 0.3,
  }),
  git: prog({
    exe: '/usr/bin/git',
    argv: ['git', 'fetch', '--prune', 'origin'],
    unit: 'ci-runner.service',
    uid: 1002,
    user: 'ci',
    lifetimeS: 1.5,
    lifetimeSigma: 1,
    memoryHungry: false,
    crashiness: 0.3,
  }),
  gcc: prog({
    exe: '/usr/lib/gcc/x86_64-linux-gnu/12/cc1',
    argv: ['/usr/lib/gcc/x86_64-linux-gnu/12/cc1', '-quiet', 'main.c'],
    unit: 'ci-runner.service',
    uid: 1002,
    user: 'ci',
    lifetimeS: 0.8,
    lifetimeSigma: 1,
    memoryHungry: true,
    crashiness: 0.5,
  }),
  make: prog({
    exe: '/usr/bin/make',
    argv: ['make', '-j4', 'all'],
    unit: 'ci-runner.service',
    uid: 1002,
    user: 'ci',
    lifetimeS: 20,
    lifetimeSigma: 1.5,
    memoryHungry: false,
    crashiness: 0.1,
  }),
  logrotate: prog({
    exe: '/usr/sbin/logrotate',
    argv: ['/usr/sbin/logrotate', '/etc/logrotate.conf'],
    unit: 'logrotate.service',
    uid: 0,
    user: 'root',
    lifetimeS: 0.3,
    lifetimeSigma: 0.7,
    memoryHungry: false,
    crashiness: 0.1,
  }),
} as const satisfies Record<string, Program>;

export type ProgramName = keyof typeof PROGRAMS;

/** A program's entry, its slice derived from where it runs: a systemd unit or a pod. */
function prog(spec: Omit<Program, 'slice' | 'lifetimeUs'> & { lifetimeS: number }): Program {
  const { lifetimeS, ...rest } = spec;
  const slice = spec.unit === null ? 'kubepods-burstable.slice' : 'system.slice';
  return { ...rest, slice, lifetimeUs: lifetimeS * 1_000_000 };
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
