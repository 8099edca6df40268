/**
 * Query results as text: an aligned table for people, CSV (RFC 4180, header first) and JSON
 * lines (one object per row) for scripts. Values keep DuckDB's own text for timestamps in the
 * table and CSV; JSON gives ISO-8601 UTC times, integers as numbers when they are exact in a
 * double (otherwise as strings), lists as arrays, structs and maps as objects.
 */
import {
  DuckDBTypeId,
  DuckDBTimestampValue,
  DuckDBMapValue,
  JsonDuckDBValueConverter,
  type DuckDBMapType,
  type DuckDBType,
  type DuckDBValue,
  type DuckDBValueConverter,
  type Json,
} from '@duckdb/node-api';

import { UsageError } from '../../common/errors.js';

export const FORMATS = ['table', 'csv', 'json'] as const;
export type Format = (typeof FORMATS)[number];

/** Rows a table shows; the rest are counted in a closing line (CSV and JSON have no cap). */
export const TABLE_MAX_ROWS = 1000;
/** Characters a table cell shows; longer values end in an ellipsis. */
export const TABLE_MAX_CELL = 80;

export function parseFormat(text: string): Format {
  if ((FORMATS as readonly string[]).includes(text)) return text as Format;
  throw new UsageError(`--format: '${text}' is not a format; expected ${FORMATS.join(', ')}`);
}

const MAX_EXACT = BigInt(Number.MAX_SAFE_INTEGER);

function timestampIso(value: DuckDBTimestampValue): string {
  const micros = value.micros;
  const millis = micros / 1000n - (micros % 1000n < 0n ? 1n : 0n);
  const iso = new Date(Number(millis)).toISOString();
  const fraction = String(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0');
  return `${iso.slice(0, 19)}.${fraction}Z`;
}

/** JSON values for scripts: see the module comment. */
export const jsonConverter: DuckDBValueConverter<Json> = (value, type, converter) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT: {
      const big = value as bigint;
      return big <= MAX_EXACT && big >= -MAX_EXACT ? Number(big) : big.toString();
    }
    case DuckDBTypeId.TIMESTAMP:
      return timestampIso(value as DuckDBTimestampValue);
    case DuckDBTypeId.MAP: {
      const out: Record<string, Json> = {};
      for (const entry of (value as DuckDBMapValue).entries) {
        out[String(entry.key)] = converter(
          entry.value,
          (type as DuckDBMapType).valueType,
          converter,
        );
      }
      return out;
    }
    default:
      return JsonDuckDBValueConverter(value, type, converter);
  }
};

/** Text of one value for the table and CSV: DuckDB's own text, nested values as JSON. */
export function textOf(value: DuckDBValue, type: DuckDBType): string | null {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.LIST:
    case DuckDBTypeId.STRUCT:
    case DuckDBTypeId.MAP:
    case DuckDBTypeId.ARRAY:
      return JSON.stringify(jsonConverter(value, type, jsonConverter));
    default:
      return String(value);
  }
}

/** Writes rows as they arrive; `end` closes the output (the table needs every row first). */
export interface RowWriter {
  rows(values: readonly DuckDBValue[][]): void;
  end(): void;
}

export function rowWriter(
  format: Format,
  columns: readonly string[],
  types: readonly DuckDBType[],
  write: (text: string) => void,
): RowWriter {
  switch (format) {
    case 'csv':
      return csvWriter(columns, types, write);
    case 'json':
      return jsonWriter(columns, types, write);
    case 'table':
      return tableWriter(columns, types, write);
  }
}

function csvField(text: string | null): string {
  if (text === null) return '';
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvWriter(
  columns: readonly string[],
  types: readonly DuckDBType[],
  write: (text: string) => void,
): RowWriter {
  write(`${columns.map(csvField).join(',')}\n`);
  return {
    rows(values) {
      let out = '';
      for (const row of values) {
        out += `${row.map((v, i) => csvField(textOf(v, types[i]!))).join(',')}\n`;
      }
      write(out);
    },
    end() {},
  };
}

function jsonWriter(
  columns: readonly string[],
  types: readonly DuckDBType[],
  write: (text: string) => void,
): RowWriter {
  return {
    rows(values) {
      let out = '';
      for (const row of values) {
        const object: Record<string, Json> = {};
        row.forEach((v, i) => {
          object[columns[i]!] = jsonConverter(v, types[i]!, jsonConverter);
        });
        out += `${JSON.stringify(object)}\n`;
      }
      write(out);
    },
    end() {},
  };
}

function tableWriter(
  columns: readonly string[],
  types: readonly DuckDBType[],
  write: (text: string) => void,
): RowWriter {
  const cells: string[][] = [];
  let cut = 0;
  return {
    rows(values) {
      for (const row of values) {
        if (cells.length >= TABLE_MAX_ROWS) {
          cut++;
          continue;
        }
        cells.push(row.map((v, i) => clip(textOf(v, types[i]!) ?? 'NULL')));
      }
    },
    end() {
      write(formatTable(columns, cells, types.map(isNumeric)));
      const count = cells.length + cut;
      const note = cut > 0 ? `; ${cut} not shown, use --format csv or json for all` : '';
      write(`(${count} row${count === 1 ? '' : 's'}${note})\n`);
    },
  };
}

function clip(text: string): string {
  const flat = text.replaceAll(/[\r\n\t]/g, ' ');
  return flat.length > TABLE_MAX_CELL ? `${flat.slice(0, TABLE_MAX_CELL - 1)}…` : flat;
}

function isNumeric(type: DuckDBType): boolean {
  return [
    DuckDBTypeId.TINYINT,
    DuckDBTypeId.SMALLINT,
    DuckDBTypeId.INTEGER,
    DuckDBTypeId.BIGINT,
    DuckDBTypeId.UTINYINT,
    DuckDBTypeId.USMALLINT,
    DuckDBTypeId.UINTEGER,
    DuckDBTypeId.UBIGINT,
    DuckDBTypeId.HUGEINT,
    DuckDBTypeId.FLOAT,
    DuckDBTypeId.DOUBLE,
    DuckDBTypeId.DECIMAL,
  ].includes(type.typeId);
}

/** An aligned text table: numbers to the right, everything else to the left. */
export function formatTable(
  columns: readonly string[],
  rows: readonly string[][],
  rightAlign: readonly boolean[] = [],
): string {
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (rightAlign[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '─'.repeat(w)).join('  ');
  return `${[line(columns), rule, ...rows.map(line)].join('\n')}\n`;
}
