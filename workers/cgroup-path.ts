/**
 * What a cgroup2 path says about who ran a process: the systemd unit and slice, the container
 * id and the Kubernetes pod uid. Pure string work on the path, done once per cgroup (the index
 * caches it), never per event.
 *
 * Naming covered, with the systemd cgroup driver and with the plain cgroupfs driver:
 *   /system.slice/docker-<64 hex>.scope                    Docker
 *   /system.slice/cri-containerd-<64 hex>.scope            containerd (CRI)
 *   /machine.slice/crio-<64 hex>.scope                     CRI-O
 *   /machine.slice/libpod-<64 hex>.scope[/container]       Podman
 *   /docker/<64 hex>                                       Docker, cgroupfs driver
 *   /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid, _>.slice/…
 *   /kubepods/burstable/pod<uid>/<64 hex>                  kubelet, cgroupfs driver
 */

export interface CgroupFacts {
  unit: string | null;
  slice: string | null;
  containerId: string | null;
  podUid: string | null;
}

const UNIT = /\.(service|scope)$/;
const SLICE = /\.slice$/;
/** Runtime scope names; the `-conmon-` scopes of CRI-O and Podman hold the monitor, not a container. */
const CONTAINER_SCOPE = /^(?:docker|cri-containerd|crio|libpod)-([0-9a-f]{64})\.scope$/;
const BARE_CONTAINER_ID = /^[0-9a-f]{64}$/;
const POD_SLICE = /^kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\.slice$/;
const POD_DIR = /^pod([0-9a-f-]{36})$/;

/** The facts in `path` (relative to the cgroup2 mount, starting with `/`). Innermost wins. */
export function parseCgroupPath(path: string): CgroupFacts {
  const facts: CgroupFacts = { unit: null, slice: null, containerId: null, podUid: null };
  const parts = path.split('/');
  for (let i = parts.length - 1; i >= 0; i--) {
    const part = parts[i] ?? '';
    if (part === '') continue;
    if (facts.unit === null && UNIT.test(part)) facts.unit = part;
    if (facts.slice === null && SLICE.test(part)) facts.slice = part;
    if (facts.containerId === null) facts.containerId = containerIdOf(part, parts[i - 1]);
    if (facts.podUid === null) facts.podUid = podUidOf(part);
  }
  return facts;
}

function containerIdOf(part: string, parent: string | undefined): string | null {
  const scope = CONTAINER_SCOPE.exec(part);
  if (scope !== null) return scope[1] ?? null;
  // A bare id names a container only under a runtime's own directory (`/docker/<id>`) or a pod
  // directory of the cgroupfs driver, not anywhere a 64-hex name happens to appear.
  if (!BARE_CONTAINER_ID.test(part) || parent === undefined) return null;
  return parent === 'docker' || POD_DIR.test(parent) ? part : null;
}

function podUidOf(part: string): string | null {
  const slice = POD_SLICE.exec(part);
  if (slice !== null) return (slice[1] ?? '').replaceAll('_', '-');
  return POD_DIR.exec(part)?.[1] ?? null;
}
