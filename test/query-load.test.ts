/**
 * The load of `pidstream query`: every column of every view holds exactly what the events hold
 * (as avsc decodes them), whether the events come from container files through the decode
 * workers or one by one as from a Kafka topic; the time window, a file that ends inside a block
 * and a damaged block are answered as the docs say.
 *
 * The expected tables are built by DuckDB's own JSON reader from the avsc-decoded events, with
 * the views' column types, and compared with EXCEPT ALL both ways: every value of every row.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { decodeAll, writeDataset, type Decoded } from '../bench/query/dataset.js';
import { VIEW_OF } from '../cli/query/columns.js';
import { loadEvents } from '../cli/query/load.js';
import type { SynthEvent } from '../cli/synth/generator.js';
import { PidstreamError } from '../common/errors.js';
import { EVENT_NAMES, schemaJson, type EventName } from '../schemas/index.js';
import { blockSpanAt, decodeHeader } from '../streams/ocf.js';
import type { ReadEvent } from '../streams/types.js';

const START_US = Date.UTC(2026, 0, 1) * 1000;
/** Small tasks, so that the load takes many and both decode workers get some. */
const TASK_BYTES = 4096;

type Json = Record<string, unknown>;

let dir: string;
let events: SynthEvent[];
let decoded: Decoded[];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pidstream-query-load-'));
  events = await writeDataset(join(dir, 'avro'), {
    seed: 'query-load',
    hosts: 5,
    count: 6000,
    rate: 40,
    startUs: START_US,
  });
  decoded = decodeAll(events);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** DuckDB's text of a microsecond timestamp, which its JSON reader takes for TIMESTAMP. */
function timestampText(us: number): string {
  const base = new Date(Math.floor(us / 1000)).toISOString().slice(0, 19).replace('T', ' ');
  return `${base}.${String(us % 1_000_000).padStart(6, '0')}`;
}

/**
 * One event as the row its view should hold, following docs/query.md's naming: nested records
 * flattened with `_`, the stamp's fields under their own names, `prev_digest` left out.
 */
function row(name: EventName, record: Json): Json {
  const out: Json = {};
  const walk = (fields: Json[], value: Json | null, prefix: string[]): void => {
    for (const field of fields) {
      const path = [...prefix, field.name as string];
      const type = Array.isArray(field.type) ? (field.type[1] as unknown) : field.type;
      const node = (typeof type === 'string' ? { type } : type) as Json;
      const v = value === null ? null : value[field.name as string];
      if (node.type === 'record') {
        walk(node.fields as Json[], (v as Json | null) ?? null, path);
        continue;
      }
      if (node.type === 'fixed') continue;
      const column = (path[0] === 'agent' ? path.slice(1) : path).join('_');
      out[column] =
        v === null || v === undefined
          ? null
          : node.logicalType === 'timestamp-micros'
            ? timestampText(v as number)
            : v;
    }
  };
  walk(schemaJson(name).fields as Json[], record, []);
  return out;
}

async function viewTypes(connection: DuckDBConnection, view: string): Promise<string[][]> {
  const result = await connection.runAndReadAll(
    `SELECT column_name, data_type FROM information_schema.columns
     WHERE table_schema = 'main' AND table_name = '${view}' ORDER BY ordinal_position`,
  );
  return result.getRows() as string[][];
}

/** Rows of `view` missing from the expected rows, and expected rows missing from `view`. */
async function differences(
  connection: DuckDBConnection,
  name: EventName,
  expected: readonly Decoded[],
): Promise<[number, number]> {
  const view = VIEW_OF[name];
  const file = join(dir, `${view}-expected.json`);
  const rows = expected.filter((e) => e.name === name).map((e) => row(name, e.record));
  writeFileSync(file, rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
  const types = await viewTypes(connection, view);
  const columns = types.map(([c, t]) => `'${c}': '${t!.replaceAll("'", "''")}'`).join(', ');
  await connection.run(
    `CREATE OR REPLACE TABLE expected AS SELECT * FROM read_json('${file}', ` +
      `columns = {${columns}}, format = 'newline_delimited')`,
  );
  const count = async (sql: string): Promise<number> =>
    Number((await connection.runAndReadAll(sql)).getRows()[0]![0]);
  return [
    await count(`SELECT count(*) FROM (SELECT * FROM ${view} EXCEPT ALL SELECT * FROM expected)`),
    await count(`SELECT count(*) FROM (SELECT * FROM expected EXCEPT ALL SELECT * FROM ${view})`),
  ];
}

async function withDatabase<T>(
  work: (instance: DuckDBInstance, connection: DuckDBConnection) => Promise<T>,
): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await work(instance, connection);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

describe('pidstream query load', () => {
  it('loads every column of every view as the events hold it, through the decode workers', async () => {
    await withDatabase(async (instance, connection) => {
      const stats = await loadEvents(
        instance,
        connection,
        { files: join(dir, 'avro') },
        undefined,
        { taskBytes: TASK_BYTES },
      );

      expect(stats.events).toBe(events.length);
      expect(stats.skipped).toBe(0);
      for (const name of EVENT_NAMES) {
        expect(stats.perView[VIEW_OF[name]]).toBe(decoded.filter((e) => e.name === name).length);
        expect(await differences(connection, name, decoded)).toEqual([0, 0]);
      }
    });
  });

  it('loads the same values from events handed one by one, as from a Kafka topic', async () => {
    await withDatabase(async (instance, connection) => {
      const stats = await loadEvents(instance, connection, { events: oneByOne() });

      expect(stats.events).toBe(events.length);
      for (const name of EVENT_NAMES) {
        expect(await differences(connection, name, decoded)).toEqual([0, 0]);
      }
    });
  });

  it('keeps every value when dictionaries start again from id 0 during the load', async () => {
    for (const input of [{ files: join(dir, 'avro') }, { events: oneByOne() }]) {
      await withDatabase(async (instance, connection) => {
        const stats = await loadEvents(instance, connection, input, undefined, {
          taskBytes: TASK_BYTES,
          dictionaryMaxKeys: 3,
        });

        expect(stats.events).toBe(events.length);
        for (const name of EVENT_NAMES) {
          expect(await differences(connection, name, decoded)).toEqual([0, 0]);
        }
      });
    }
  });

  it('keeps only the events of the window, counting the others as skipped', async () => {
    const times = events.map((e) => e.timeUs).sort((a, b) => a - b);
    const since = times[Math.floor(times.length / 3)]!;
    const until = times[Math.floor((2 * times.length) / 3)]!;
    const inside = decoded.filter(
      (_, i) => events[i]!.timeUs >= since && events[i]!.timeUs < until,
    );

    await withDatabase(async (instance, connection) => {
      const stats = await loadEvents(
        instance,
        connection,
        { files: join(dir, 'avro') },
        { sinceUs: since, untilUs: until },
        { taskBytes: TASK_BYTES },
      );

      expect(stats.events).toBe(inside.length);
      expect(stats.skipped).toBe(events.length - inside.length);
      for (const name of EVENT_NAMES) {
        expect(await differences(connection, name, inside)).toEqual([0, 0]);
      }
    });
  });

  it('loads the complete blocks of a file that ends inside one and counts the bytes left', async () => {
    const source = join(dir, 'avro');
    const file = readdirSync(source).sort()[0]!;
    const bytes = readFileSync(join(source, file));
    const header = decodeHeader(bytes)!;
    const ends: number[] = [];
    for (let span = blockSpanAt(bytes, header.length, header.sync); span !== null;) {
      ends.push(span.end);
      span = blockSpanAt(bytes, span.end, header.sync);
    }
    // Cut the file 10 bytes into its last block.
    const lastStart = ends.at(-2)!;
    const complete = countUpTo(bytes, header, lastStart);
    const cut = join(dir, 'cut');
    rmSync(cut, { recursive: true, force: true });
    writeFileSync(join(mkdir(cut), file), bytes.subarray(0, lastStart + 10));

    await withDatabase(async (instance, connection) => {
      const stats = await loadEvents(instance, connection, { files: cut });

      expect(stats.partialBytes).toBe(10);
      expect(stats.events).toBe(complete);
    });
  });

  it('names the file and the block when a block is damaged', async () => {
    const source = join(dir, 'avro');
    const file = readdirSync(source).sort()[0]!;
    const bytes = Buffer.from(readFileSync(join(source, file)));
    const header = decodeHeader(bytes)!;
    const span = blockSpanAt(bytes, header.length, header.sync)!;
    bytes.fill(0xff, span.dataStart, span.dataStart + 64);
    const damaged = join(dir, 'damaged');
    rmSync(damaged, { recursive: true, force: true });
    writeFileSync(join(mkdir(damaged), file), bytes);

    await withDatabase(async (instance, connection) => {
      const load = loadEvents(instance, connection, { files: damaged });

      await expect(load).rejects.toThrow(PidstreamError);
      await expect(load).rejects.toMatchObject({
        code: 'PIDSTREAM_ERR_DECODE',
        message: expect.stringMatching(
          new RegExp(`^reading ${join(damaged, file).replaceAll('.', '\\.')}: block 0[:,]`),
        ) as unknown,
      });
    });
  });
});

/** The events as a source that reads them one at a time hands them on. */
function oneByOne(): ReadEvent[] {
  return events.map((e, i) => ({
    name: e.name,
    bytes: e.bytes,
    timeUs: e.timeUs,
    position: `event ${i}`,
  }));
}

/** Records in the blocks that end at or before `end`. */
function countUpTo(
  bytes: Buffer,
  header: NonNullable<ReturnType<typeof decodeHeader>>,
  end: number,
): number {
  let records = 0;
  for (
    let span = blockSpanAt(bytes, header.length, header.sync);
    span !== null && span.end <= end;
  ) {
    records += span.count;
    span = blockSpanAt(bytes, span.end, header.sync);
  }
  return records;
}

function mkdir(path: string): string {
  mkdirSync(path, { recursive: true });
  return path;
}
