/**
 * Synthetic datasets for the query benchmark and the query tests: `pidstream synth`'s fleet
 * generator written to Avro files, with the events kept so a test can compute its expected
 * answers from them independently of DuckDB.
 */
import { FleetGenerator, type SynthEvent } from '../../cli/synth/generator.js';
import { eventType, type EventName } from '../../schemas/index.js';
import { openSink } from '../../streams/open.js';

export interface DatasetOptions {
  seed: string;
  hosts: number;
  /** Process events (exits and coredumps); START and STOP events come on top. */
  count: number;
  /** Process events per second of event time. */
  rate: number;
  startUs: number;
}

/** Events handed to the sink at once. */
const WRITE_BATCH = 4096;

export function synthGenerator(options: DatasetOptions): FleetGenerator {
  return new FleetGenerator({
    seed: options.seed,
    hosts: options.hosts,
    rate: options.rate,
    startUs: options.startUs,
    count: options.count,
    durationUs: null,
    signatures: 50,
    zipfExponent: 1.1,
    crashLoops: null,
    badDeploys: null,
  });
}

/** Writes the dataset to `dir` as Avro files and returns its events in stream order. */
export async function writeDataset(dir: string, options: DatasetOptions): Promise<SynthEvent[]> {
  const events = [...synthGenerator(options).events()];
  const sink = await openSink(dir);
  try {
    for (let i = 0; i < events.length; i += WRITE_BATCH) {
      await sink.write(events.slice(i, i + WRITE_BATCH));
    }
  } finally {
    await sink.close();
  }
  return events;
}

/** An event decoded with avsc: the plain record the schema describes. */
export interface Decoded {
  name: EventName;
  record: Record<string, unknown>;
}

export function decodeAll(events: readonly SynthEvent[]): Decoded[] {
  return events.map((e) => ({
    name: e.name,
    record: eventType(e.name).fromBuffer(e.bytes) as Record<string, unknown>,
  }));
}
