/**
 * `pidstream verify --from SRC [--from SRC…]`: reads events from Avro files, Kafka topics or
 * JSON lines and checks their integrity stamps: gaps, duplicates, conflicting copies,
 * reordering and altered events (a broken hash chain). Prints a table per agent instance, or
 * the report as JSON with --json.
 *
 * Exit codes: 0 clean; 1 a problem was found (duplicates count unless --allow-duplicates,
 * since at-least-once delivery makes them without anything being lost); 2 a bad flag or URI.
 */
import type { Command } from 'commander';

import { openSource } from '../../streams/open.js';
import { parseStreamUri } from '../../streams/uri.js';
import { formatReport, hasProblems, StreamVerifier } from '../../streams/verify.js';

interface VerifyFlags {
  from: string[];
  json: boolean;
  allowDuplicates: boolean;
}

const EXIT_PROBLEMS = 1;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerVerify(program: Command): void {
  program
    .command('verify')
    .description('check a stream for gaps, duplicates, reordering and altered events')
    .requiredOption(
      '--from <uri>',
      'Avro file or directory, kafka://host:port/topic (no topic: the three agent topics), -; repeatable',
      collect,
      [],
    )
    .option('--json', 'print the report as one JSON object', false)
    .option('--allow-duplicates', 'exit 0 when duplicates are the only finding', false)
    .action(async (flags: VerifyFlags) => {
      await runVerify(flags);
    });
}

export async function runVerify(flags: VerifyFlags): Promise<void> {
  const uris = flags.from.map((raw) => parseStreamUri(raw, '--from'));

  const verifier = new StreamVerifier();
  for (const uri of uris) {
    const source = await openSource(uri);
    try {
      for await (const event of source.events()) verifier.add(event);
    } finally {
      await source.close();
    }
  }
  const report = verifier.report();
  process.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : formatReport(report));
  if (hasProblems(report, flags.allowDuplicates)) process.exitCode = EXIT_PROBLEMS;
}
