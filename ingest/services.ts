/**
 * The operator-facing services around a running agent: the metrics endpoint (with /healthz and
 * /readyz) and the status socket. Both only read the agent's counters; neither can stop or
 * slow the agent's loop beyond the time of one scrape or one status reply.
 */
import type { Config } from '../common/config.js';
import { logger } from '../common/log.js';
import type { AgentStats } from './stats.js';
import { buildSnapshot, ControlServer } from './control.js';
import { agentMetrics, type MetricsServer, startMetricsServer } from './metrics.js';

/** What the services need of the agent. */
export interface ServedAgent {
  readonly instanceId: string;
  readonly stats: AgentStats;
}

export interface AgentServices {
  /** The metrics endpoint's URL, or null when `metrics.address = "off"`. */
  metricsUrl: string | null;
  /** /readyz turns 503 first, so a load balancer stops scraping before the endpoint closes. */
  stop(): Promise<void>;
}

export async function startServices(
  agent: ServedAgent,
  config: Config,
  version: string,
): Promise<AgentServices> {
  const log = logger('services');
  const startedAtMs = Date.now();
  let ready = true;

  agentMetrics.collectProcessMetrics();
  agentMetrics.bind({
    stats: () => agent.stats,
    ready: () => (ready ? { ready, reason: 'running' } : { ready, reason: 'stopping' }),
  });
  // Neither service is worth the agent's life: a taken port or socket is logged as an error
  // and the agent runs on without that service.
  let metrics: MetricsServer | null = null;
  if (config.metrics.address !== 'off') {
    try {
      metrics = await startMetricsServer(config.metrics.address);
      log.info({ url: metrics.url }, 'metrics endpoint listening');
    } catch (err) {
      log.error({ err, address: config.metrics.address }, 'metrics endpoint not started');
    }
  }
  const metricsUrl = metrics?.url ?? null;

  let control: ControlServer | null = null;
  if (config.control.enabled) {
    control = new ControlServer({
      socketPath: config.control.socket,
      group: config.control.group,
      log: logger('control'),
      snapshot: () =>
        buildSnapshot({
          version,
          instanceId: agent.instanceId,
          startedAtMs,
          stats: agent.stats,
          metricsUrl,
        }),
    });
    try {
      control.start();
    } catch (err) {
      log.error({ err, socket: config.control.socket }, 'status socket not started');
      control = null;
    }
  }

  return {
    metricsUrl,
    stop: async () => {
      ready = false;
      await control?.stop();
      await metrics?.close();
      agentMetrics.bind(null);
    },
  };
}
