import { describe, expect, it } from 'vitest';

import { prefetched } from '../cli/replay/prefetch.js';

async function* numbers(count: number, log: string[], failAt = -1): AsyncGenerator<number> {
  try {
    for (let i = 0; i < count; i++) {
      if (i === failAt) throw new Error(`source failed at ${i}`);
      log.push(`read ${i}`);
      yield i;
    }
  } finally {
    log.push('source closed');
  }
}

describe('reading a source ahead of the pacer', () => {
  it('yields every item in order across compactions of its queue', async () => {
    const out: number[] = [];
    for await (const n of prefetched(numbers(10_000, []), 100)) out.push(n);
    expect(out).toEqual(Array.from({ length: 10_000 }, (_, i) => i));
  });

  it('reads no more than its cap ahead of the consumer', async () => {
    const log: string[] = [];
    const it = prefetched(numbers(100, log), 5)[Symbol.asyncIterator]();
    expect((await it.next()).value).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // The first item was taken, so the queue holds at most 5 more, plus one in flight.
    expect(log.filter((l) => l.startsWith('read')).length).toBeLessThanOrEqual(7);
    await it.return?.(undefined);
    expect(log[log.length - 1]).toBe('source closed');
  });

  it('passes the source failure on after the items read before it', async () => {
    const out: number[] = [];
    const run = async (): Promise<void> => {
      for await (const n of prefetched(numbers(10, [], 7), 3)) out.push(n);
    };
    await expect(run()).rejects.toThrow('source failed at 7');
    expect(out).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('closes the source when the consumer stops early', async () => {
    const log: string[] = [];
    for await (const n of prefetched(numbers(1000, log), 10)) if (n === 3) break;
    expect(log[log.length - 1]).toBe('source closed');
  });
});
