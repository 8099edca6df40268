import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { loadConfig } from '../common/config.js';
import { packageRoot } from '../common/paths.js';

/**
 * No Kubernetes runs here: the manifest is parsed (PyYAML, installed by scripts/setup.sh),
 * checked for the privileges the agent needs on a node, and its configuration is loaded by
 * pidstream itself.
 */
interface Container {
  args: string[];
  env: { name: string; value?: string }[];
  securityContext: { privileged: boolean };
  livenessProbe: { httpGet: { path: string } };
  readinessProbe: { httpGet: { path: string } };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  hostPID: boolean;
  hostNetwork: boolean;
  dnsPolicy: string;
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
}
type Doc = { kind: string; data?: Record<string, string> } & {
  spec?: { template: { spec: PodSpec } };
};

const manifest = join(packageRoot(), 'deploy/kubernetes/daemonset.yaml');
const script =
  'import json,sys,yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))';
const docs = JSON.parse(
  execFileSync('python3', ['-c', script, manifest], { encoding: 'utf8' }),
) as Doc[];
const dir = mkdtempSync(join(tmpdir(), 'pidstream-k8s-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const pod = (): PodSpec =>
  (docs.find((d) => d.kind === 'DaemonSet')?.spec as { template: { spec: PodSpec } }).template.spec;

describe('Kubernetes DaemonSet', () => {
  it('holds a Namespace, a ConfigMap and a DaemonSet', () => {
    expect(docs.map((d) => d.kind)).toEqual(['Namespace', 'ConfigMap', 'DaemonSet']);
  });

  it("sees the node's processes, network namespace and coredump socket directory", () => {
    const spec = pod();
    const [agent] = spec.containers;
    expect([spec.hostPID, spec.hostNetwork, spec.dnsPolicy]).toEqual([
      true,
      true,
      'ClusterFirstWithHostNet',
    ]);
    expect(agent?.securityContext.privileged).toBe(true);
    const hostPaths = Object.fromEntries(spec.volumes.map((v) => [v.name, v.hostPath?.path]));
    const mounts = Object.fromEntries(agent?.volumeMounts.map((m) => [m.mountPath, m.name]) ?? []);
    expect(hostPaths[mounts['/run/pidstream'] as string]).toBe('/run/pidstream');
    expect(hostPaths[mounts['/var/lib/pidstream'] as string]).toBe('/var/lib/pidstream');
    expect(hostPaths[mounts['/sys/fs/cgroup'] as string]).toBe('/sys/fs/cgroup');
  });

  it('probes the endpoints the agent serves and runs with the mounted configuration', () => {
    const [agent] = pod().containers;
    expect(agent?.livenessProbe.httpGet.path).toBe('/healthz');
    expect(agent?.readinessProbe.httpGet.path).toBe('/readyz');
    expect(agent?.args).toEqual(['run', '--config', '/etc/pidstream/pidstream.toml']);

    const file = join(dir, 'pidstream.toml');
    writeFileSync(file, docs.find((d) => d.kind === 'ConfigMap')?.data?.['pidstream.toml'] ?? '');
    // Kubernetes expands $(NODE_IP) before the agent sees it.
    const metrics = agent?.env.find((e) => e.name === 'PIDSTREAM_METRICS_ADDRESS')?.value;
    expect(metrics).toBe('$(NODE_IP):9464');
    const { config } = loadConfig({
      path: file,
      env: { PIDSTREAM_METRICS_ADDRESS: (metrics ?? '').replace('$(NODE_IP)', '10.0.0.7') },
    });
    expect(config.kafka.brokers).toHaveLength(2);
    expect(config.metrics.address).toBe('10.0.0.7:9464');
    expect(config.coredump.store_dir).toBe('/var/lib/pidstream/cores');
  });
});
