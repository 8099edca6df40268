import { describe, expect, it } from 'vitest';

import { UsageError } from '../common/errors.js';
import { parseBound, parseTimeUs, withinOffsets } from '../cli/replay/time-range.js';

const NOW_US = Date.UTC(2026, 11, 3, 12) * 1000;

describe('--since and --until values', () => {
  it('reads ISO-8601 times to the microsecond, with offsets and without a time of day', () => {
    expect(parseTimeUs('2026-01-01T00:00:05Z', '--since')).toBe(
      Date.UTC(2026, 0, 1, 0, 0, 5) * 1000,
    );
    expect(parseTimeUs('2026-01-01T00:00:05.123456Z', '--since')).toBe(
      Date.UTC(2026, 0, 1, 0, 0, 5, 123) * 1000 + 456,
    );
    expect(parseTimeUs('2026-01-01T02:00:00+02:00', '--since')).toBe(Date.UTC(2026, 0, 1) * 1000);
    expect(parseTimeUs('2026-01-01', '--since')).toBe(Date.UTC(2026, 0, 1) * 1000);
  });

  it('counts relative times back from now', () => {
    expect(parseTimeUs('-2h', '--since', NOW_US)).toBe(NOW_US - 7_200_000_000);
    expect(parseTimeUs('-30m', '--since', NOW_US)).toBe(NOW_US - 1_800_000_000);
    expect(parseTimeUs('-1.5s', '--since', NOW_US)).toBe(NOW_US - 1_500_000);
    expect(parseTimeUs('-250ms', '--since', NOW_US)).toBe(NOW_US - 250_000);
    expect(parseTimeUs('-1d', '--since', NOW_US)).toBe(NOW_US - 86_400_000_000);
    expect(parseTimeUs('now', '--until', NOW_US)).toBe(NOW_US);
  });

  it.each(['yesterday', '2h', '5', '2026-13-45T00:00:00Z', 'May 5'])(
    'rejects %s as a usage error naming the flag',
    (text) => {
      expect(() => parseTimeUs(text, '--until')).toThrow(UsageError);
      expect(() => parseTimeUs(text, '--until')).toThrow(`--until: '${text}' is not a time`);
    },
  );

  it('reads offsets for every partition or per partition', () => {
    expect(parseBound('offset:42', '--since')).toEqual({
      kind: 'offsets',
      all: 42n,
      byPartition: new Map(),
    });
    expect(parseBound('offset:0=10,3=7', '--since')).toEqual({
      kind: 'offsets',
      all: null,
      byPartition: new Map([
        [0, 10n],
        [3, 7n],
      ]),
    });
    expect(() => parseBound('offset:0=x', '--since')).toThrow(
      "--since: '0=x' in offset:0=x is not an offset; expected offset:N or offset:PARTITION=N,…",
    );
  });

  it('keeps [since, until) offsets, a partition not named being unlimited', () => {
    const since = parseBound('offset:0=10', '--since');
    const until = parseBound('offset:20', '--until');
    expect(withinOffsets('t/0@9', since, until)).toBe(false);
    expect(withinOffsets('t/0@10', since, until)).toBe(true);
    expect(withinOffsets('t/0@19', since, until)).toBe(true);
    expect(withinOffsets('t/0@20', since, until)).toBe(false);
    expect(withinOffsets('t/1@0', since, until)).toBe(true);
    expect(withinOffsets('t/1@20', since, until)).toBe(false);
  });
});
