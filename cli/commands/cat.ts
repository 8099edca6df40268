/**
 * `pidstream cat FILE|DIR…`: every event of Avro container files as one JSON object per line
 * (streams/json-lines.ts), in file-name order within a directory. Exit 0 when every file was
 * read, 1 when one could not be (each named on stderr; the others are still printed), 2 for a
 * usage error. A file that ends inside a block (still being written) is printed up to its last
 * complete block, with a note on stderr.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

import { type Command, Option } from 'commander';

import { PidstreamError } from '../../common/errors.js';
import { EVENT_KIND, eventType } from '../../schemas/index.js';
import { AvroFileSource } from '../../streams/avro-file-source.js';
import { eventToJson } from '../../streams/json-lines.js';

const EXIT_UNREADABLE = 1;

interface CatFlags {
  type?: string;
}

export function registerCat(program: Command): void {
  program
    .command('cat')
    .description('print events of Avro files as JSON lines, one object per event with its type')
    .argument('<paths...>', 'Avro container files, or directories of them')
    .addOption(
      new Option('--type <type>', 'only events of this type').choices(Object.values(EVENT_KIND)),
    )
    .action(async (paths: string[], flags: CatFlags) => {
      const unreadable = await cat(paths, flags.type ?? null, process.stdout, process.stderr);
      if (unreadable > 0) process.exitCode = EXIT_UNREADABLE;
    });
}

/**
 * Writes one line, waiting while `out` is full. False when the reader has gone (EPIPE, as in
 * `pidstream cat DIR | head`): not an error, just the end of the output.
 */
async function writeLine(out: Writable, line: string): Promise<boolean> {
  try {
    if (!out.write(line)) await once(out, 'drain');
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') return false;
    throw error;
  }
}

/** Prints the events of `paths`; returns how many files or paths could not be read. */
export async function cat(
  paths: readonly string[],
  type: string | null,
  out: Writable,
  err: Writable,
): Promise<number> {
  let unreadable = 0;
  const report = (error: PidstreamError): void => {
    unreadable++;
    err.write(`pidstream: ${error.message}\n`);
  };
  // An EPIPE can also arrive as an 'error' event after a write returned; once(…, 'drain')
  // rejects with it, and this listener keeps it from being an uncaught error otherwise.
  let readerGone = false;
  const onError = (error: NodeJS.ErrnoException): void => {
    if (error.code === 'EPIPE') readerGone = true;
  };
  out.on('error', onError);
  try {
    for (const path of paths) {
      const source = new AvroFileSource(path, { onUnreadable: report });
      try {
        for await (const event of source.events()) {
          if (type !== null && EVENT_KIND[event.name] !== type) continue;
          const json = eventToJson(event.name, eventType(event.name).fromBuffer(event.bytes));
          if (readerGone || !(await writeLine(out, `${JSON.stringify(json)}\n`))) return unreadable;
        }
      } catch (error) {
        if (!(error instanceof PidstreamError)) throw error;
        report(error);
      }
      for (const tail of source.partialTails) {
        err.write(
          `pidstream: ${tail.file} ends ${tail.bytes} bytes into an incomplete block ` +
            '(still being written, or cut short); printed up to its last complete block\n',
        );
      }
    }
    return unreadable;
  } finally {
    out.off('error', onError);
  }
}
