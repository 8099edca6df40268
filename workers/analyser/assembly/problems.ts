// What went wrong while reading a core. The analysis goes on past most problems (a bad module
// header does not spoil the rest), so they are collected and reported together.

/** Problems beyond this many are counted, not described. */
export const MAX_PROBLEMS: i32 = 8;

export class Problems {
  private list: string[] = [];
  private dropped: i32 = 0;

  /** Adds a problem; one already listed is not repeated. */
  add(message: string): void {
    if (this.list.includes(message)) return;
    if (this.list.length < MAX_PROBLEMS) this.list.push(message);
    else this.dropped++;
  }

  get empty(): bool {
    return this.list.length == 0;
  }

  toString(): string {
    let out = this.list.join('; ');
    if (this.dropped > 0) out += '; and ' + this.dropped.toString() + ' more problems';
    return out;
  }
}
