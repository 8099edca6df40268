import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { DEFAULT_REDACTION_RULES, Redactor, replaceRule } from '../ingest/redaction.js';
import {
  type AgentRun,
  exitsTagged,
  type ExitEvent,
  marker,
  readEvents,
  runToEnd,
  startAgent,
} from './support/agent.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function redact(redactor: Redactor, args: string[]): string[] {
  return decoder.decode(redactor.redact(encoder.encode(args.join('\0')))).split('\0');
}

describe('redaction rules', () => {
  const defaults = new Redactor(DEFAULT_REDACTION_RULES);

  it.each([
    [
      ['app', '--password=hunter2'],
      ['app', '--password=[REDACTED]'],
    ],
    [
      ['app', '--db-password', 'hunter2', 'next'],
      ['app', '--db-password', '[REDACTED]', 'next'],
    ],
    [
      ['app', '--token', 'abc'],
      ['app', '--token', '[REDACTED]'],
    ],
    [
      ['app', 'token=abc123'],
      ['app', 'token=[REDACTED]'],
    ],
    [
      ['curl', 'https://x/?a=1&api_key=zzz&b=2'],
      ['curl', 'https://x/?a=1&api_key=[REDACTED]&b=2'],
    ],
    [
      ['app', '--client-secret=s3'],
      ['app', '--client-secret=[REDACTED]'],
    ],
    [
      ['curl', '-H', 'Authorization: Bearer abc.def'],
      ['curl', '-H', 'Authorization: Bearer [REDACTED]'],
    ],
    [
      ['git', 'clone', 'https://bob:pw@example.org/r'],
      ['git', 'clone', 'https://bob:[REDACTED]@example.org/r'],
    ],
    [
      ['aws', 'AKIAABCDEFGHIJKLMNOP'],
      ['aws', '[REDACTED]'],
    ],
  ])('redacts %j', (args, expected) => {
    expect(redact(defaults, args)).toEqual(expected);
  });

  it('returns the same bytes when nothing matches', () => {
    const argv = encoder.encode(['ls', '-la', '/tmp'].join('\0'));
    expect(defaults.redact(argv)).toBe(argv);
  });

  it('applies a configured pattern', () => {
    const custom = new Redactor([replaceRule('ssn', String.raw`\d{3}-\d{2}-\d{4}`)]);
    expect(redact(custom, ['app', 'id=123-45-6789'])).toEqual(['app', 'id=[REDACTED]']);
  });
});

describe('agent: secrets in argv', () => {
  const tag = marker('redact');
  let agent: AgentRun;
  let exit: ExitEvent;

  beforeAll(async () => {
    agent = await startAgent(['--redact', 'customer-[0-9]+']);
    await runToEnd('sh', [
      '-c',
      'sleep 0.2',
      tag,
      '--password=hunter2',
      '--token',
      'abc',
      'https://u:pw@host/',
      'customer-42',
    ]);
    expect(await agent.stop()).toBe(0);
    const found = exitsTagged(await readEvents(agent.outDir), tag).filter((e) => e.comm === 'sh');
    expect(found).toHaveLength(1);
    exit = found[0]!;
  });

  afterAll(() => agent?.cleanup());

  it('writes argv with the default and the configured rules applied', () => {
    expect(exit.argv).toEqual([
      'sh',
      '-c',
      'sleep 0.2',
      tag,
      '--password=[REDACTED]',
      '--token',
      '[REDACTED]',
      'https://u:[REDACTED]@host/',
      '[REDACTED]',
    ]);
  });
});
