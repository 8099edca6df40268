/**
 * What `pidstream run` will do on this host, given what the capability probes found and the
 * configuration: one line per part of the agent, each saying which mechanism it uses and, when
 * degraded, which kernel would remove the degradation. `pidstream doctor` prints it; the
 * support level is its exit code.
 */
import type { Config } from '../common/config.js';
import { has, type CapabilityReport } from './capabilities.js';
import type { Reachability } from './capability-delivery.js';

export interface PlanStep {
  area: string;
  text: string;
  /** True when the step is a fallback for something this host lacks. */
  degraded: boolean;
}

/**
 * `full`: everything pidstream uses is there. `partial`: it runs with the degraded steps shown.
 * `none`: it cannot run usefully (no pidfds, no proc connector, or privileges too weak for them).
 */
export type SupportLevel = 'full' | 'partial' | 'none';

export const EXIT_FULL = 0;
export const EXIT_PARTIAL = 1;
export const EXIT_UNSUPPORTED = 3;

export interface StartupPlan {
  steps: PlanStep[];
  support: SupportLevel;
}

function crashCapture(report: CapabilityReport, config: Config): PlanStep {
  const area = 'crash capture';
  const socket = config.coredump.socket;
  if (!config.coredump.enabled) {
    return { area, text: 'off (coredump.enabled = false)', degraded: false };
  }
  if (has(report, 'coredump_socket_ack')) {
    const text = `core_pattern @@${socket}: the policy answers each coredump_req before any core is sent`;
    return { area, text, degraded: false };
  }
  if (has(report, 'coredump_socket')) {
    const text = `core_pattern @${socket}: every core is streamed and the policy applied as it arrives (no @@ request/ack: Linux 6.17)`;
    return { area, text, degraded: true };
  }
  const owner = report.corePattern.owner;
  const text = `off: needs a coredump socket (Linux 6.16); core_pattern stays with ${owner}`;
  return { area, text, degraded: true };
}

function takeover(report: CapabilityReport, capture: PlanStep): PlanStep | null {
  if (capture.text.startsWith('off')) return null;
  const owner = report.corePattern.owner;
  if (owner === 'pidstream')
    return { area: 'core_pattern', text: "already pidstream's", degraded: false };
  return {
    area: 'core_pattern',
    text: `taken over from ${owner} (${report.corePattern.pattern}) while the agent runs, restored at stop`,
    degraded: false,
  };
}

function exitStatus(report: CapabilityReport): PlanStep {
  const area = 'exit status';
  if (has(report, 'pidfd_info_exit') && has(report, 'epoll_hup')) {
    const text =
      'PIDFD_INFO_EXIT once EPOLLHUP shows the reap; proc connector exit records for processes whose pidfd_open lost the race';
    return { area, text, degraded: false };
  }
  if (has(report, 'proc_connector')) {
    const missing = has(report, 'epoll_hup')
      ? 'PIDFD_INFO_EXIT (Linux 6.15)'
      : 'EPOLLHUP on reap (Linux 6.9)';
    return {
      area,
      text: `proc connector exit records for every process (no ${missing})`,
      degraded: true,
    };
  }
  return {
    area,
    text: 'unavailable: neither PIDFD_INFO_EXIT nor the proc connector',
    degraded: true,
  };
}

/** The plan for this host and configuration. */
export function planStartup(
  report: CapabilityReport,
  config: Config,
  delivery: readonly Reachability[] = [],
): StartupPlan {
  const steps: PlanStep[] = [];
  const step = (area: string, ok: boolean, good: string, fallback: string): void => {
    steps.push(
      ok ? { area, text: good, degraded: false } : { area, text: fallback, degraded: true },
    );
  };

  step(
    'discovery',
    has(report, 'proc_connector'),
    'proc connector fork/exec/exit notices, a /proc scan at start and after each overflow',
    '/proc scans only: processes that live less than a scan interval are missed',
  );
  step(
    'process handle',
    has(report, 'pidfd_open'),
    'a pidfd per process, opened at discovery',
    'pid only: a reused pid can be confused with the process that had it',
  );
  step(
    'process key',
    has(report, 'pidfs_inode'),
    'boot id + pidfs inode',
    'boot id + pid + start time (pidfs inodes need Linux 6.9)',
  );
  steps.push(exitStatus(report));
  step(
    'credentials',
    has(report, 'pidfd_get_info'),
    'PIDFD_GET_INFO: ids and cgroup id from the pidfd',
    '/proc/PID/status at discovery (PIDFD_GET_INFO needs Linux 6.13)',
  );
  step(
    'coredump mask',
    has(report, 'pidfd_info_coredump'),
    'PIDFD_INFO_COREDUMP on every exit',
    'the core-dumped bit of the wait status only (PIDFD_INFO_COREDUMP needs Linux 6.16)',
  );
  const capture = crashCapture(report, config);
  steps.push(capture);
  const takeOver = takeover(report, capture);
  if (takeOver !== null) steps.push(takeOver);
  if (!capture.text.startsWith('off')) {
    step(
      'crash identity',
      has(report, 'so_peerpidfd'),
      'SO_PEERPIDFD on each coredump connection',
      'the pid in /proc of the connecting task (SO_PEERPIDFD needs Linux 6.5)',
    );
  }
  step(
    'mount identity',
    has(report, 'listmount'),
    'statmount of each process root: mount namespace and root file system',
    'off: container attribution from the cgroup path only (listmount/statmount need Linux 6.8)',
  );
  step(
    'cgroup paths',
    has(report, 'cgroup2'),
    `resolved under ${report.cgroup2Mount ?? '?'}`,
    'off: no cgroup2 mount',
  );
  const lacking = report.privileges.lacking;
  step(
    'privileges',
    lacking.length === 0,
    'sufficient',
    `lacking ${lacking.join(', ')}: the steps that need them fail`,
  );
  steps.push(deliveryStep(config, delivery));

  return { steps, support: supportLevel(report, steps, delivery) };
}

function deliveryStep(config: Config, delivery: readonly Reachability[]): PlanStep {
  const area = 'delivery';
  if (config.kafka.brokers.length === 0) {
    return { area, text: `Avro files in ${config.output.dir}`, degraded: false };
  }
  const down = delivery.filter((d) => d.verdict !== 'ok').map((d) => d.name);
  const text = `Kafka ${config.kafka.brokers.join(',')} through the spool in ${config.spool.dir}`;
  return down.length === 0
    ? { area, text, degraded: false }
    : {
        area,
        text: `${text}; ${down.join(' and ')} unreachable now: events wait in the spool`,
        degraded: true,
      };
}

function supportLevel(
  report: CapabilityReport,
  steps: readonly PlanStep[],
  delivery: readonly Reachability[],
): SupportLevel {
  if (!has(report, 'pidfd_open') || !has(report, 'proc_connector')) return 'none';
  const kernelMissing = report.capabilities.some((c) => c.verdict !== 'ok');
  const degraded = steps.some((s) => s.degraded) || delivery.some((d) => d.verdict !== 'ok');
  return kernelMissing || degraded ? 'partial' : 'full';
}

export function exitCodeOf(support: SupportLevel): number {
  if (support === 'full') return EXIT_FULL;
  return support === 'partial' ? EXIT_PARTIAL : EXIT_UNSUPPORTED;
}
