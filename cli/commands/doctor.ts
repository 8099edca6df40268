/**
 * `pidstream doctor [--json]`: probes each kernel feature and privilege pidstream uses, names
 * who owns core_pattern, checks the configured Kafka and schema registry, and prints what
 * `pidstream run` will do on this host.
 *
 * Exit codes: 0 fully supported; 1 partly supported (runs with the degraded steps shown, or a
 * configured delivery endpoint does not answer); 3 not supported (no pidfd_open or no proc
 * connector, including for lack of privileges); 2 a bad configuration value.
 */
import type { Command } from 'commander';

import { addConfigOptions, loadConfigFromOptions } from '../../common/config.js';
import { UsageError } from '../../common/errors.js';
import {
  type Capability,
  type CapabilityReport,
  HIDE_ENV,
  parseHidden,
  probeCapabilities,
} from '../../ingest/capabilities.js';
import { probeDelivery, type Reachability } from '../../ingest/capability-delivery.js';
import { exitCodeOf, planStartup, type StartupPlan } from '../../ingest/startup-plan.js';

const VERDICT_WIDTH = 9;
const NAME_WIDTH = 24;
const SINCE_WIDTH = 14;

function row(verdict: string, name: string, since: string, detail: string): string {
  return `${verdict.padEnd(VERDICT_WIDTH)}${name.padEnd(NAME_WIDTH)}${since.padEnd(SINCE_WIDTH)}${detail}`;
}

export function capabilityLine(c: Capability): string {
  return row(c.verdict, c.name, `Linux ${c.since}`, c.detail);
}

export function formatReport(
  report: CapabilityReport,
  delivery: readonly Reachability[],
  plan: StartupPlan,
): string {
  const { privileges, corePattern } = report;
  const who = privileges.uid === 0 ? 'root' : `uid ${privileges.uid}`;
  const caps =
    privileges.lacking.length === 0
      ? `${who}, with ${privileges.held.join(' ')}`
      : `${who}, lacking ${privileges.lacking.join(' ')}`;
  const lines = [
    `kernel ${report.kernel}`,
    '',
    ...report.capabilities.map(capabilityLine),
    row(privileges.lacking.length === 0 ? 'ok' : 'missing', 'privileges', '', caps),
    row('info', 'core_pattern owner', '', `${corePattern.owner}: ${corePattern.pattern}`),
    ...delivery.map((d) => row(d.verdict, d.name, '', `${d.target}: ${d.detail}`)),
    '',
    'pidstream run will use:',
    ...plan.steps.map((s) => `  ${s.degraded ? '!' : ' '} ${s.area.padEnd(16)}${s.text}`),
    '',
    `support: ${plan.support} (exit ${exitCodeOf(plan.support)})`,
  ];
  return `${lines.join('\n')}\n`;
}

export function registerDoctor(program: Command): void {
  const doctor = program
    .command('doctor')
    .description('probe the kernel features pidstream uses and show what run will do here')
    .option('--json', 'print the report as JSON')
    .option('--no-core-probe', 'do not change core_pattern briefly to probe the socket forms');
  addConfigOptions(doctor).action(async (opts: Record<string, unknown>) => {
    const { config } = loadConfigFromOptions(opts);
    const { hide, unknown } = parseHidden(process.env[HIDE_ENV]);
    if (unknown.length > 0) {
      throw new UsageError(`${HIDE_ENV}: unknown capability id ${unknown.join(', ')}`);
    }

    const report = await probeCapabilities({
      hide,
      coreProbe: opts.coreProbe !== false,
      coreSocket: config.coredump.socket,
    });
    const delivery = await probeDelivery(config);
    const plan = planStartup(report, config, delivery);
    const exitCode = exitCodeOf(plan.support);
    if (opts.json === true) {
      const json = { ...report, delivery, plan: plan.steps, support: plan.support, exitCode };
      process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    } else {
      process.stdout.write(formatReport(report, delivery, plan));
    }
    process.exitCode = exitCode;
  });
}
