/**
 * `pidstream query --from SRC "SQL"`: loads events into an embedded DuckDB and answers SQL over
 * the views `exits`, `coredumps` and `agent_events`. docs/query.md describes the columns.
 */
import type { Command } from 'commander';

import { UsageError } from '../../common/errors.js';
import { addSourceOptions, windowFrom, type SourceFlags } from '../query/flags.js';
import type { Format } from '../query/output.js';
import { QuerySession } from '../query/session.js';

interface QueryFlags extends SourceFlags {
  format: Format;
  export?: string[];
}

export function registerQuery(program: Command): void {
  addSourceOptions(
    program
      .command('query')
      .description('SQL over events in an embedded DuckDB: views exits, coredumps, agent_events')
      .argument('[sql]', 'the query; leave out to only --save or --export'),
  )
    .option('--export <parquet-dir...>', 'write every view as Parquet: --export parquet DIR')
    .action(async (sql: string | undefined, flags: QueryFlags) => {
      await runQuery(sql, flags);
    });
}

/**
 * `--export parquet DIR`. The option takes a list, so commander also hands it an SQL argument
 * written after it; that one is given back as the query.
 */
function exportDir(
  values: string[] | undefined,
  sql: string | undefined,
): { dir: string | null; sql: string | undefined } {
  if (values === undefined) return { dir: null, sql };
  const [format, dir, ...rest] = values;
  if (
    format !== 'parquet' ||
    dir === undefined ||
    rest.length > 1 ||
    (rest.length === 1 && sql !== undefined)
  ) {
    throw new UsageError(`--export: '${values.join(' ')}' is not 'parquet DIR'`);
  }
  return { dir, sql: rest[0] ?? sql };
}

async function runQuery(sqlArgument: string | undefined, flags: QueryFlags): Promise<void> {
  const { dir: exportTo, sql } = exportDir(flags.export, sqlArgument);
  if (sql === undefined && exportTo === null && flags.save === undefined) {
    throw new UsageError('query: give SQL, --save FILE.duckdb or --export parquet DIR');
  }
  const window = windowFrom(flags);
  if (flags.from.endsWith('.duckdb') && (window.sinceUs !== null || window.untilUs !== null)) {
    throw new UsageError(
      `--since/--until select events while loading; ${flags.from} is loaded already: filter on time in the SQL`,
    );
  }

  const session = await QuerySession.open({ from: flags.from, window, save: flags.save ?? null });
  for (const note of session.notes()) process.stderr.write(`pidstream: ${note}\n`);
  try {
    if (exportTo !== null) {
      for (const file of await session.exportParquet(exportTo))
        process.stderr.write(`wrote ${file}\n`);
    }
    if (sql !== undefined) await session.query(sql, flags.format, process.stdout);
  } finally {
    session.close();
  }
}
