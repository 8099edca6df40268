import { describe, expect, it } from 'vitest';

import { parseCgroupPath } from '../workers/cgroup-path.js';

const ID = '3f4d6c0a9b8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a392817060f1e';
const POD = '8a1c2e3f-4b5d-6e7f-8091-a2b3c4d5e6f7';
const POD_ = POD.replaceAll('-', '_');

describe('parseCgroupPath', () => {
  it.each([
    [
      '/system.slice/nginx.service',
      { unit: 'nginx.service', slice: 'system.slice', containerId: null, podUid: null },
    ],
    [
      '/user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope',
      {
        unit: 'app-gnome-firefox-4242.scope',
        slice: 'app.slice',
        containerId: null,
        podUid: null,
      },
    ],
    [
      `/system.slice/docker-${ID}.scope`,
      { unit: `docker-${ID}.scope`, slice: 'system.slice', containerId: ID, podUid: null },
    ],
    [
      `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${POD_}.slice/cri-containerd-${ID}.scope`,
      {
        unit: `cri-containerd-${ID}.scope`,
        slice: `kubepods-burstable-pod${POD_}.slice`,
        containerId: ID,
        podUid: POD,
      },
    ],
    [
      `/kubepods.slice/kubepods-pod${POD_}.slice/crio-${ID}.scope`,
      {
        unit: `crio-${ID}.scope`,
        slice: `kubepods-pod${POD_}.slice`,
        containerId: ID,
        podUid: POD,
      },
    ],
    [
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_}.slice/crio-conmon-${ID}.scope`,
      {
        unit: `crio-conmon-${ID}.scope`,
        slice: `kubepods-besteffort-pod${POD_}.slice`,
        containerId: null,
        podUid: POD,
      },
    ],
    [
      `/machine.slice/libpod-${ID}.scope/container`,
      { unit: `libpod-${ID}.scope`, slice: 'machine.slice', containerId: ID, podUid: null },
    ],
    [`/docker/${ID}`, { unit: null, slice: null, containerId: ID, podUid: null }],
    [
      `/kubepods/burstable/pod${POD}/${ID}`,
      { unit: null, slice: null, containerId: ID, podUid: POD },
    ],
    ['/', { unit: null, slice: null, containerId: null, podUid: null }],
    [`/init.scope/${ID}`, { unit: 'init.scope', slice: null, containerId: null, podUid: null }],
  ])('reads %s', (path, facts) => {
    expect(parseCgroupPath(path)).toEqual(facts);
  });
});
