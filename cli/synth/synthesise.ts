/**
 * Writes a synthetic fleet's stream to a sink, paced like a replay: START events, the process
 * events until the count or duration is reached (or a stop is asked for), then STOP events,
 * so that even an interrupted synthesis leaves complete agent streams.
 */
import type { EventSink } from '../../streams/types.js';
import { Emitter } from '../replay/emitter.js';
import { Pacer } from '../replay/pacer.js';
import { Progress, ProgressEnd } from '../replay/progress.js';
import { summarise, Summary } from '../replay/summary.js';
import type { FleetGenerator, SynthEvent } from './generator.js';

export interface SynthRun {
  speed: number;
  signal: AbortSignal;
  progress: NodeJS.WriteStream | null;
  /** What the progress bar measures against. */
  end: Omit<ProgressEnd, 'speed'>;
}

export async function synthesise(
  generator: FleetGenerator,
  sink: EventSink,
  run: SynthRun,
): Promise<Summary> {
  const emitter = new Emitter(sink, new Pacer(run.speed), run.signal);
  const progress =
    run.progress === null
      ? null
      : new Progress(run.progress, emitter.state, { ...run.end, speed: run.speed });
  progress?.start();
  try {
    for (const event of generator.starts()) await emit(emitter, event, run.signal);
    for (let event = generator.next(); event !== null; event = generator.next()) {
      if (!(await emit(emitter, event, run.signal))) break;
    }
    // STOP events end every agent stream, paced or not: a stop must not wait for them.
    for (const event of generator.stops()) await emitter.push(event, event.timeUs);
    await emitter.drain();
  } finally {
    progress?.stop();
    await sink.close();
  }
  return summarise(emitter, run.signal.aborted);
}

/** Paces and writes one event; false when a stop was asked for. */
async function emit(emitter: Emitter, event: SynthEvent, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  const wait = emitter.due(event.timeUs);
  if (wait !== null) {
    await wait;
    if (signal.aborted) return false;
  }
  const full = emitter.push(event, event.timeUs);
  if (full !== null) await full;
  return true;
}
