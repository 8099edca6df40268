/**
 * Loads a stream of events into DuckDB and exposes them as the views `exits`, `coredumps` and
 * `agent_events`. Every view exists after a load, empty when the stream held no such event.
 *
 * Container files written with the current schemas are decoded by worker threads
 * (file-load.ts); events that come one by one (a Kafka topic, a file of another schema version)
 * are decoded on this thread. Both hand chunks and dictionary keys to one table writer per
 * event type (table-writer.ts).
 */
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

import { PidstreamError } from '../../common/errors.js';
import { EVENT_NAMES } from '../../schemas/index.js';
import type { ReadEvent } from '../../streams/types.js';
import { VIEW_OF } from './columns.js';
import type { DecodeOutput } from './decode-protocol.js';
import { eventPlan, RecordDamage, RecordDecoder, type DecodedChunk } from './decoder.js';
import { loadFiles } from './file-load.js';
import { STORE_SCHEMA, TableWriter } from './table-writer.js';

export { STORE_SCHEMA } from './table-writer.js';

export interface LoadWindow {
  /** Wall-clock microseconds; events before it are skipped. */
  sinceUs: number | null;
  /** Wall-clock microseconds; events at or after it are skipped. */
  untilUs: number | null;
}

export interface LoadStats {
  events: number;
  /** Events outside the window, read and not loaded. */
  skipped: number;
  /** Bytes at the end of files that were not complete blocks (a file being written). */
  partialBytes: number;
  perView: Record<string, number>;
}

/** Avro container files (a file or a directory), or any stream of events. */
export type EventInput =
  { files: string } | { events: AsyncIterable<ReadEvent> | Iterable<ReadEvent> };

export interface LoadOptions {
  /** Compressed bytes per decode task (file-load.ts's TASK_BYTES unless a test says). */
  taskBytes?: number;
  /** Keys per dictionary before it starts again (decoder.ts's default unless a test says). */
  dictionaryMaxKeys?: number;
}

/** The source number of this thread's decoder; the workers count from 1. */
const MAIN_SOURCE = 0;
/** Resolves once every table has room for more chunks. */
async function backlog(writers: readonly TableWriter[]): Promise<void> {
  for (const writer of writers) await writer.room();
}

/** Decodes events one by one on this thread and writes each chunk as it fills. */
class EventWriter {
  readonly #writers: TableWriter[];
  readonly #maxKeys: number | undefined;
  #decoder: RecordDecoder | null = null;

  constructor(writers: TableWriter[], maxKeys: number | undefined) {
    this.#writers = writers;
    this.#maxKeys = maxKeys;
  }

  add(event: ReadEvent): void {
    // Made on the first event: a load of current files never needs it.
    this.#decoder ??= new RecordDecoder(this.#maxKeys);
    const type = EVENT_NAMES.indexOf(event.name);
    try {
      this.#decoder.decode(event.bytes, 1, type, (chunk) => this.#write(chunk));
    } catch (err) {
      if (!(err instanceof RecordDamage)) throw err;
      throw new PidstreamError(
        'PIDSTREAM_ERR_DECODE',
        `decoding the ${event.name} record at ${event.position}: ${err.message}`,
        { cause: err },
      );
    }
  }

  finish(): void {
    for (const chunk of this.#decoder?.takeChunks() ?? []) this.#write(chunk);
  }

  #write(chunk: DecodedChunk): void {
    const decoder = this.#decoder!;
    const writer = this.#writers[chunk.type]!;
    for (const keys of decoder.takeKeys(chunk.type)) writer.addKeys(MAIN_SOURCE, keys);
    writer.queue(MAIN_SOURCE, chunk);
    for (const reset of decoder.resetFullDictionaries(chunk.type)) {
      writer.resetKeys(MAIN_SOURCE, reset.group);
    }
  }
}

/**
 * Loads `input` into new tables of `instance`, through `connection` and a connection of its
 * own per table (table-writer.ts).
 */
export async function loadEvents(
  instance: DuckDBInstance,
  connection: DuckDBConnection,
  input: EventInput,
  window: LoadWindow = { sinceUs: null, untilUs: null },
  options: LoadOptions = {},
): Promise<LoadStats> {
  // During the load DuckDB's only work is the inserts, each fed one chunk at a time from this
  // thread, so each runs on the thread that executes it. With more threads, DuckDB's scheduler
  // threads kept polling for tasks a one-chunk-at-a-time scan never offers: on the benchmark
  // that took 2 µs of CPU per event, more than the insert itself.
  const reader = await connection.runAndReadAll(`SELECT current_setting('threads')`);
  const threads = Number(reader.getRows()[0]![0]);
  await connection.run('SET threads = 1');
  try {
    return await load(instance, connection, input, window, options);
  } finally {
    await connection.run(`SET threads = ${threads}`);
  }
}

async function load(
  instance: DuckDBInstance,
  connection: DuckDBConnection,
  input: EventInput,
  window: LoadWindow,
  options: LoadOptions,
): Promise<LoadStats> {
  const writers: TableWriter[] = [];
  for (const name of EVENT_NAMES) {
    writers.push(await TableWriter.create(instance, connection, eventPlan(name)));
  }
  const since = window.sinceUs ?? -Infinity;
  const until = window.untilUs ?? Infinity;
  const events = new EventWriter(writers, options.dictionaryMaxKeys);
  let skipped = 0;
  let partialBytes = 0;
  const addEvent = (event: ReadEvent): void => {
    if (event.timeUs < since || event.timeUs >= until) {
      skipped++;
      return;
    }
    events.add(event);
  };
  const write = (output: DecodeOutput): void => {
    for (const keys of output.keys) writers[keys.type]!.addKeys(output.source, keys);
    for (const chunk of output.chunks) writers[chunk.type]!.queue(output.source, chunk);
    for (const reset of output.resets) writers[reset.type]!.resetKeys(output.source, reset.group);
  };

  if ('files' in input) {
    const stats = await loadFiles(
      input.files,
      { since, until },
      {
        write,
        addEvent,
        ready: () => backlog(writers),
        ...options,
      },
    );
    skipped += stats.skipped;
    partialBytes = stats.partialBytes;
  } else {
    for await (const event of input.events) {
      addEvent(event);
      await backlog(writers);
    }
  }
  events.finish();

  // The tables' last inserts run at once, each on its own connection.
  const rows = await Promise.all(writers.map((writer) => writer.finish()));
  const perView: Record<string, number> = {};
  writers.forEach((writer, i) => (perView[writer.table] = rows[i]!));
  const loaded = rows.reduce((sum, n) => sum + n, 0);
  await createViews(connection);
  return { events: loaded, skipped, partialBytes, perView };
}

export async function createViews(connection: DuckDBConnection): Promise<void> {
  for (const name of EVENT_NAMES) {
    const view = VIEW_OF[name];
    await connection.run(
      `CREATE OR REPLACE VIEW main.${view} AS SELECT * FROM ${STORE_SCHEMA}.${view}`,
    );
  }
}

export interface ViewDescription {
  view: string;
  columns: { name: string; type: string }[];
}

/** The views and their columns, as DuckDB reports them: for help and error messages. */
export async function describeViews(connection: DuckDBConnection): Promise<ViewDescription[]> {
  const result = await connection.runAndReadAll(
    `SELECT table_name, column_name, data_type FROM information_schema.columns ` +
      `WHERE table_schema = 'main' AND table_name IN (${EVENT_NAMES.map((n) => `'${VIEW_OF[n]}'`).join(', ')}) ` +
      `ORDER BY table_name, ordinal_position`,
  );
  const views = new Map<string, ViewDescription>();
  for (const [view, name, type] of result.getRows() as [string, string, string][]) {
    let description = views.get(view);
    if (description === undefined) {
      description = { view, columns: [] };
      views.set(view, description);
    }
    description.columns.push({ name, type });
  }
  return EVENT_NAMES.map((n) => views.get(VIEW_OF[n]) ?? { view: VIEW_OF[n], columns: [] });
}
