/**
 * Reads a source ahead of the pacer. Without it, the next event is asked for only once the
 * previous one is written, and whenever that crosses a block boundary (a file read and an
 * inflate, or a Kafka fetch) the event is as late as the read is long. Here a loop keeps up to
 * PREFETCH_CAP events in memory, so a due event is already there when its moment comes.
 * Items may be blocks of events: `weight` says how many events an item holds.
 */

/** Events read ahead of the writer; the reading loop waits when this many are queued. */
export const PREFETCH_CAP = 16 * 1024;
/** The queue drops its consumed head in one splice once this many are behind it. */
const COMPACT_AFTER = 4096;

export async function* prefetched<T>(
  source: AsyncIterable<T>,
  cap = PREFETCH_CAP,
  weight: (item: T) => number = () => 1,
): AsyncGenerator<T> {
  const iterator = source[Symbol.asyncIterator]();
  const queue: T[] = [];
  let head = 0;
  /** Weight of the items queued and not yet taken. */
  let held = 0;
  let finished = false;
  let stopped = false;
  let failure: { error: unknown } | null = null;
  let wakeReader: (() => void) | null = null;
  let wakeWriter: (() => void) | null = null;
  const wake = (): void => {
    const writer = wakeWriter;
    wakeWriter = null;
    writer?.();
  };

  const reading = (async () => {
    try {
      while (!stopped) {
        if (held >= cap) {
          await new Promise<void>((resolve) => (wakeReader = resolve));
          continue;
        }
        const next = await iterator.next();
        if (next.done === true) break;
        queue.push(next.value);
        held += weight(next.value);
        wake();
      }
    } catch (error) {
      failure = { error };
    } finally {
      finished = true;
      wake();
    }
  })();

  try {
    for (;;) {
      if (head < queue.length) {
        const item = queue[head++] as T;
        held -= weight(item);
        if (head >= COMPACT_AFTER) {
          queue.splice(0, head);
          head = 0;
        }
        const reader = wakeReader as (() => void) | null;
        wakeReader = null;
        reader?.();
        yield item;
        continue;
      }
      if (failure !== null) throw (failure as { error: unknown }).error;
      if (finished) return;
      await new Promise<void>((resolve) => (wakeWriter = resolve));
    }
  } finally {
    stopped = true;
    const reader = wakeReader as (() => void) | null;
    reader?.();
    await reading;
    await iterator.return?.();
  }
}
