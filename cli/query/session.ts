/**
 * One embedded DuckDB holding a stream of events: opened on a source (Avro files or a Kafka
 * topic, loaded once) or on a database saved by an earlier `--save`, then asked any number of
 * questions. Shared by `pidstream query` and `pidstream report`.
 */
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Writable } from 'node:stream';

import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';

import { PidstreamError, UsageError } from '../../common/errors.js';
import { EVENT_NAMES } from '../../schemas/index.js';
import { DEFAULT_TOPICS } from '../../streams/kafka-client.js';
import { KafkaSource } from '../../streams/kafka-source.js';
import { parseStreamUri, type StreamUri } from '../../streams/uri.js';
import { VIEW_OF } from './columns.js';
import { describeViews, loadEvents, type LoadStats, type LoadWindow } from './load.js';
import { rowWriter, type Format } from './output.js';

export interface SessionOptions {
  /** `--from`: Avro files, `kafka://…`, or a `.duckdb` file saved before. */
  from: string;
  window: LoadWindow;
  /** `--save`: keep the database in this file instead of memory. */
  save: string | null;
}

const DUCKDB_SUFFIX = '.duckdb';

async function loadKafka(
  instance: DuckDBInstance,
  connection: DuckDBConnection,
  uri: Extract<StreamUri, { kind: 'kafka' }>,
  window: LoadWindow,
): Promise<LoadStats> {
  const source = new KafkaSource({
    brokers: uri.brokers,
    topics: uri.topic === null ? EVENT_NAMES.map((n) => DEFAULT_TOPICS[n]) : [uri.topic],
    // A message's Kafka timestamp is when it was produced, never before its event happened:
    // messages older than --since can be skipped by offset. An event delayed in the agent's
    // spool can carry a timestamp after --until, so the upper bound is applied to event times
    // as the events are loaded, up to the end offsets at the start of the read.
    fromTimeMs: window.sinceUs === null ? undefined : Math.floor(window.sinceUs / 1000),
  });
  try {
    return await loadEvents(instance, connection, { events: source.events() }, window);
  } finally {
    await source.close();
  }
}

function sqlString(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

export class QuerySession {
  readonly instance: DuckDBInstance;
  readonly connection: DuckDBConnection;
  /** Null when the session reopened a saved database. */
  readonly stats: LoadStats | null;

  private constructor(
    instance: DuckDBInstance,
    connection: DuckDBConnection,
    stats: LoadStats | null,
  ) {
    this.instance = instance;
    this.connection = connection;
    this.stats = stats;
  }

  static async open(options: SessionOptions): Promise<QuerySession> {
    if (options.from.endsWith(DUCKDB_SUFFIX)) return QuerySession.#reopen(options);
    const uri = parseStreamUri(options.from, '--from');
    if (uri.kind === 'stdio') {
      throw new UsageError(
        '--from: - (standard input) cannot be queried; give Avro files or a Kafka topic',
      );
    }
    const instance = await DuckDBInstance.create(options.save ?? ':memory:');
    const connection = await instance.connect();
    try {
      const stats =
        uri.kind === 'kafka'
          ? await loadKafka(instance, connection, uri, options.window)
          : await loadEvents(instance, connection, { files: uri.path }, options.window);
      return new QuerySession(instance, connection, stats);
    } catch (err) {
      connection.closeSync();
      throw err;
    }
  }

  static async #reopen(options: SessionOptions): Promise<QuerySession> {
    if (options.save !== null) {
      throw new UsageError(
        `--save: ${options.from} is already a saved database; query it directly`,
      );
    }
    if (!existsSync(options.from)) {
      throw new UsageError(`--from: ${options.from} does not exist`);
    }
    const instance = await DuckDBInstance.create(options.from, { access_mode: 'READ_ONLY' });
    const connection = await instance.connect();
    const views = await describeViews(connection);
    const missing = views.filter((v) => v.columns.length === 0).map((v) => v.view);
    if (missing.length > 0) {
      connection.closeSync();
      throw new PidstreamError(
        'PIDSTREAM_ERR_SOURCE',
        `opening ${options.from}: not a pidstream database (no view ${missing.join(', ')})`,
      );
    }
    return new QuerySession(instance, connection, null);
  }

  /** What the load left out and why, for the command to show on stderr. */
  notes(): string[] {
    const partial = this.stats?.partialBytes ?? 0;
    if (partial === 0) return [];
    return [
      `${partial} bytes at the end of the files were not complete blocks (a file still being written) and were not loaded`,
    ];
  }

  /**
   * Runs `sql` and writes its rows as they arrive. Bad SQL is a usage error: DuckDB's message
   * followed by the views and their columns.
   */
  async query(sql: string, format: Format, out: Writable): Promise<number> {
    let result;
    try {
      result = await this.connection.stream(sql);
    } catch (err) {
      throw await this.#badSql(err);
    }
    const write = (text: string): void => {
      out.write(text);
    };
    const writer = rowWriter(format, result.columnNames(), result.columnTypes(), write);
    let rows = 0;
    try {
      for await (const chunk of result.yieldRows()) {
        writer.rows(chunk);
        rows += chunk.length;
        if (out.writableNeedDrain) await once(out, 'drain');
      }
    } catch (err) {
      throw await this.#badSql(err);
    }
    writer.end();
    return rows;
  }

  async #badSql(err: unknown): Promise<UsageError> {
    const message = err instanceof Error ? err.message : String(err);
    const views = await describeViews(this.connection);
    const listing = views
      .map((v) => `  ${v.view}: ${v.columns.map((c) => `${c.name} ${c.type}`).join(', ')}`)
      .join('\n');
    return new UsageError(`${message}\navailable views and their columns:\n${listing}`, {
      cause: err,
    });
  }

  /** Writes each view as `DIR/<view>.parquet`; returns the files written. */
  async exportParquet(dir: string): Promise<string[]> {
    await mkdir(dir, { recursive: true });
    const files: string[] = [];
    for (const name of EVENT_NAMES) {
      const view = VIEW_OF[name];
      const file = resolve(join(dir, `${view}.parquet`));
      await this.connection.run(
        `COPY (SELECT * FROM main.${view}) TO ${sqlString(file)} (FORMAT parquet, COMPRESSION zstd)`,
      );
      files.push(file);
    }
    return files;
  }

  close(): void {
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
