import { mkdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { afterEach, describe, expect, it } from 'vitest';

import { CgroupIndex, cgroup2MountPoint, findCgroup2Mount } from '../workers/cgroup-index.js';

const ROOT = findCgroup2Mount();
const made: string[] = [];

function makeCgroup(name: string): { path: string; id: number } {
  const dir = join(ROOT as string, name);
  mkdirSync(dir);
  made.unshift(dir);
  return { path: `/${name}`, id: statSync(dir).ino };
}

afterEach(() => {
  for (const dir of made.splice(0)) rmdirSync(dir);
});

describe('cgroup2 mount', () => {
  it('finds the cgroup2 mount on a hybrid host and unescapes it', () => {
    const hybrid = [
      '31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
      '40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
      '41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
    ].join('\n');
    expect(cgroup2MountPoint(hybrid)).toBe('/sys/fs/cgroup/unified');
    const pure = '30 23 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate';
    expect(cgroup2MountPoint(pure)).toBe('/sys/fs/cgroup');
    const odd = '30 23 0:26 / /mnt/cg\\040two rw - cgroup2 none rw';
    expect(cgroup2MountPoint(odd)).toBe('/mnt/cg two');
    expect(cgroup2MountPoint('31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw')).toBeNull();
  });

  it('finds this host’s cgroup2 mount, whose root directory is cgroup id 1', () => {
    expect(ROOT).not.toBeNull();
    expect(statSync(ROOT as string).ino).toBe(1);
  });
});

describe.each([
  ['file handles', true],
  ['walks of the hierarchy', false],
])('CgroupIndex through %s', (_, handles) => {
  it('maps a cgroup the test creates to its path, and nested ones below it', () => {
    const outer = makeCgroup(`pidstream-test-index-${process.pid}`);
    const inner = makeCgroup(`pidstream-test-index-${process.pid}/worker.scope`);
    const index = new CgroupIndex(ROOT as string, { handles });
    expect(index.lookup(1)?.path).toBe('/');
    expect(index.lookup(outer.id)?.path).toBe(outer.path);
    expect(index.lookup(inner.id)).toEqual({
      path: inner.path,
      unit: 'worker.scope',
      slice: null,
      containerId: null,
      podUid: null,
    });
    expect(index.handlesOff).toBe(handles ? null : 'turned off by the caller');
  });

  it('resolves a cgroup removed before it was first looked up to null', () => {
    const gone = makeCgroup(`pidstream-test-gone-${process.pid}`);
    rmdirSync(join(ROOT as string, gone.path));
    made.shift();
    const index = new CgroupIndex(ROOT as string, { minRescanIntervalMs: 0, handles });
    expect(index.lookup(gone.id)).toBeNull();
  });
});

describe('CgroupIndex through file handles', () => {
  it('resolves a cgroup created after its first lookup in one step, without walking', () => {
    const index = new CgroupIndex(ROOT as string);
    expect(index.lookup(1)?.path).toBe('/');
    const late = makeCgroup(`pidstream-test-handle-${process.pid}`);
    expect(index.lookup(late.id)?.path).toBe(late.path);
    expect(index.lookup(late.id)?.path).toBe(late.path);
    expect([index.scans, index.handleLookups]).toEqual([0, 2]);
  });
});

describe('CgroupIndex through walks of the hierarchy', () => {
  it('rescans on a miss to find a cgroup created after the last walk', () => {
    let now = 0;
    const index = new CgroupIndex(ROOT as string, {
      minRescanIntervalMs: 100,
      now: () => now,
      handles: false,
    });
    index.rescan();
    const late = makeCgroup(`pidstream-test-late-${process.pid}`);
    now = 100;
    expect(index.lookup(late.id)?.path).toBe(late.path);
    expect(index.scans).toBe(2);
  });

  it('walks at most once per interval, however many unknown ids arrive', () => {
    let now = 0;
    const index = new CgroupIndex(ROOT as string, {
      minRescanIntervalMs: 100,
      now: () => now,
      handles: false,
    });
    index.rescan();
    const late = makeCgroup(`pidstream-test-bound-${process.pid}`);
    now = 50;
    for (let i = 0; i < 10; i++) expect(index.lookup(late.id)).toBeNull();
    expect(index.scans).toBe(1);
    now = 150;
    expect(index.lookup(late.id)?.path).toBe(late.path);
    expect(index.scans).toBe(2);
  });
});
