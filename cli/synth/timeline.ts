/**
 * A min-heap of items keyed by time, ties broken by insertion order so that generation is
 * deterministic. Holds only what is scheduled ahead (the next background arrival, one entry
 * per running incident, exits waiting for their core), so it stays small.
 */
export class Timeline<T> {
  readonly #times: number[] = [];
  readonly #orders: number[] = [];
  readonly #items: T[] = [];
  #added = 0;

  get size(): number {
    return this.#items.length;
  }

  add(timeUs: number, item: T): void {
    this.#times.push(timeUs);
    this.#orders.push(this.#added++);
    this.#items.push(item);
    this.#up(this.#items.length - 1);
  }

  /** The earliest item and its time, removed. */
  pop(): [number, T] | undefined {
    if (this.#items.length === 0) return undefined;
    const top: [number, T] = [this.#times[0] as number, this.#items[0] as T];
    const last = this.#items.length - 1;
    this.#swap(0, last);
    this.#times.pop();
    this.#orders.pop();
    this.#items.pop();
    this.#down(0);
    return top;
  }

  #less(i: number, j: number): boolean {
    const ti = this.#times[i] as number;
    const tj = this.#times[j] as number;
    return ti < tj || (ti === tj && (this.#orders[i] as number) < (this.#orders[j] as number));
  }

  #swap(i: number, j: number): void {
    [this.#times[i], this.#times[j]] = [this.#times[j] as number, this.#times[i] as number];
    [this.#orders[i], this.#orders[j]] = [this.#orders[j] as number, this.#orders[i] as number];
    [this.#items[i], this.#items[j]] = [this.#items[j] as T, this.#items[i] as T];
  }

  #up(i: number): void {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(i, parent)) return;
      this.#swap(i, parent);
      i = parent;
    }
  }

  #down(i: number): void {
    const n = this.#items.length;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < n && this.#less(left, least)) least = left;
      if (right < n && this.#less(right, least)) least = right;
      if (least === i) return;
      this.#swap(i, least);
      i = least;
    }
  }
}
