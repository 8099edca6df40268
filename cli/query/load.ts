/**
 * Loads a stream of events into DuckDB and exposes them as the views `exits`, `coredumps` and
 * `agent_events`. Every view exists after a load, empty when the stream held no such event.
 */
import type { DuckDBConnection } from '@duckdb/node-api';

import { EVENT_NAMES, type EventName } from '../../schemas/index.js';
import type { ReadEvent } from '../../streams/types.js';
import { VIEW_OF } from './columns.js';
import { loadFiles } from './file-load.js';
import { STORE_SCHEMA, TableStage } from './staging.js';

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

export async function loadEvents(
  connection: DuckDBConnection,
  input: EventInput,
  window: LoadWindow = { sinceUs: null, untilUs: null },
): Promise<LoadStats> {
  const stages = new Map<EventName, TableStage>();
  for (const name of EVENT_NAMES) stages.set(name, await TableStage.create(name, connection));
  const since = window.sinceUs ?? -Infinity;
  const until = window.untilUs ?? Infinity;
  let skipped = 0;
  let partialBytes = 0;
  const addEvent = (event: ReadEvent): void => {
    if (event.timeUs < since || event.timeUs >= until) {
      skipped++;
      return;
    }
    stages.get(event.name)!.addAt(event.bytes, 0);
  };

  if ('files' in input) {
    const stats = await loadFiles(input.files, stages, { since, until }, addEvent);
    skipped += stats.skipped;
    partialBytes = stats.partialBytes;
  } else {
    for await (const event of input.events) addEvent(event);
  }

  const perView: Record<string, number> = {};
  let loaded = 0;
  for (const [name, stage] of stages) {
    const rows = await stage.finish();
    perView[VIEW_OF[name]] = rows;
    loaded += rows;
  }
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
