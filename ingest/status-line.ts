/**
 * The one-line live status on a terminal: events/s, watched processes, losses, redrawn each
 * second in place. Never shown when stderr is not a terminal (logs and pipes stay clean).
 */
import type { AgentStats } from './stats.js';
import { totalLosses } from './stats.js';

const REDRAW_MS = 1000;

export class StatusLine {
  readonly #stats: () => AgentStats;
  readonly #out: NodeJS.WriteStream;
  #timer: NodeJS.Timeout | null = null;
  #lastEvents = 0;
  #lastAt = 0;

  constructor(stats: () => AgentStats, out: NodeJS.WriteStream = process.stderr) {
    this.#stats = stats;
    this.#out = out;
  }

  start(): void {
    if (!this.#out.isTTY) return;
    this.#lastAt = Date.now();
    this.#timer = setInterval(() => this.#draw(), REDRAW_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    this.#out.write('\r\x1b[K');
  }

  #draw(): void {
    const stats = this.#stats();
    const events = stats.events.ProcessExit + stats.events.Coredump + stats.events.AgentEvent;
    const now = Date.now();
    const rate = ((events - this.#lastEvents) * 1000) / Math.max(1, now - this.#lastAt);
    this.#lastEvents = events;
    this.#lastAt = now;
    const line =
      `pidstream: ${rate.toFixed(0)} events/s, ${stats.watched} watched, ` +
      `${events} events, ${totalLosses(stats)} lost`;
    this.#out.write(`\r\x1b[K${line}`);
  }
}
