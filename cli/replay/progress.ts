/**
 * The one-line progress display of long replays and syntheses, redrawn in place on a
 * terminal: events written, rate, position in event time, a bar and the ETA when the end is
 * known. Hand-written (about sixty lines) rather than cli-progress: the bar's position is the
 * stream's event time, which advances at the pacing speed rather than with a count, and the
 * line must go to stderr beside structured logs, with nothing on stdout (a `-` sink's).
 */
import { performance } from 'node:perf_hooks';

export const PROGRESS_INTERVAL_MS = 250;
const BAR_WIDTH = 24;
/** Rate is measured over this many recent redraws, so it follows changes of pace. */
const RATE_WINDOW = 8;

export interface ProgressState {
  /** Events taken from the source (for replay, filtered ones too). */
  read: number;
  written: number;
  /** Event time of the latest event handed to the sink, microseconds. */
  timeUs: number | null;
}

export interface ProgressEnd {
  /** Event time at which the stream ends (--until, or the last event of a synthesis). */
  endUs: number | null;
  startUs: number | null;
  /** Events the source holds in all, when known: the bar then follows the count read. */
  total: number | null;
  speed: number;
}

export class Progress {
  readonly #stream: NodeJS.WriteStream;
  readonly #state: ProgressState;
  readonly #end: ProgressEnd;
  readonly #samples: { atMs: number; written: number }[] = [];
  #timer: NodeJS.Timeout | null = null;
  #startedMs = 0;

  constructor(stream: NodeJS.WriteStream, state: ProgressState, end: ProgressEnd) {
    this.#stream = stream;
    this.#state = state;
    this.#end = end;
  }

  start(): void {
    this.#startedMs = performance.now();
    this.#timer = setInterval(() => this.#draw(), PROGRESS_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Clears the line so the summary prints on a clean one. */
  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#stream.write('\r\x1b[2K');
  }

  #draw(): void {
    const now = performance.now();
    this.#samples.push({ atMs: now, written: this.#state.written });
    if (this.#samples.length > RATE_WINDOW) this.#samples.shift();
    const first = this.#samples[0] as { atMs: number; written: number };
    const seconds = (now - first.atMs) / 1000;
    const rate = seconds > 0 ? (this.#state.written - first.written) / seconds : 0;

    const fraction = this.#fraction();
    const filled = fraction === null ? 0 : Math.round(fraction * BAR_WIDTH);
    const bar =
      fraction === null
        ? ''
        : `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${(fraction * 100).toFixed(0)}% `;
    const at =
      this.#state.timeUs === null ? '' : ` at ${new Date(this.#state.timeUs / 1000).toISOString()}`;
    const eta = this.#eta(fraction);
    this.#stream.write(
      `\r\x1b[2K${bar}${this.#state.written} events, ${rate.toFixed(0)}/s${at}${eta === null ? '' : `, ETA ${eta}`}`,
    );
  }

  #fraction(): number | null {
    const { total, startUs, endUs } = this.#end;
    if (total !== null && total > 0) return Math.min(1, this.#state.read / total);
    if (startUs === null || endUs === null || this.#state.timeUs === null) return null;
    return Math.max(0, Math.min(1, (this.#state.timeUs - startUs) / (endUs - startUs)));
  }

  /**
   * A paced stream with a known end time ends when event time reaches it; otherwise the time
   * so far is scaled by the fraction still to go.
   */
  #eta(fraction: number | null): string | null {
    const { endUs, speed } = this.#end;
    let seconds: number | null = null;
    if (Number.isFinite(speed) && endUs !== null && this.#state.timeUs !== null) {
      seconds = (endUs - this.#state.timeUs) / 1e6 / speed;
    } else if (fraction !== null && fraction > 0) {
      seconds = (((performance.now() - this.#startedMs) / 1000) * (1 - fraction)) / fraction;
    }
    if (seconds === null) return null;
    const s = Math.max(0, Math.round(seconds));
    return `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  }
}
