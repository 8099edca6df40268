import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { describe, expect, it } from 'vitest';

import { UsageError } from '../common/errors.js';
import { distFile } from '../common/paths.js';
import type { EventRecord } from '../cli/replay/event-record.js';
import { compileFilter } from '../cli/replay/filter.js';
import type { EventName } from '../schemas/index.js';

const run = promisify(execFile);

function exit(fields: Partial<EventRecord>): [EventName, EventRecord] {
  const record = {
    agent: { host: 'web-1', boot_id: 'b', instance_id: 'i', seq: 7, prev_digest: Buffer.alloc(32) },
    time: Date.UTC(2026, 0, 1, 12) * 1000,
    exe: '/usr/sbin/nginx',
    comm: 'nginx',
    cgroup: {
      id: 1,
      path: '/system.slice/nginx.service',
      unit: 'nginx.service',
      slice: 'system.slice',
      container_id: null,
      pod_uid: null,
    },
    signal: 11,
    exit_code: null,
    classification: 'CRASHED',
    ...fields,
  };
  return ['ProcessExit', record as EventRecord];
}

const coredump = (signal: number, signature: string): [EventName, EventRecord] => {
  const [, record] = exit({ signal, signature });
  return ['Coredump', record];
};

function matches(source: string, [name, record]: [EventName, EventRecord]): boolean {
  return compileFilter(source).test(name, record);
}

describe('--filter expressions', () => {
  it('combines type, a signal list by name and a regular expression on exe', () => {
    const f = 'type == "coredump" and signal in (SIGSEGV, SIGABRT) and exe ~ "nginx"';
    expect(matches(f, coredump(11, 'abc'))).toBe(true);
    expect(matches(f, coredump(6, 'abc'))).toBe(true);
    expect(matches(f, coredump(7, 'abc'))).toBe(false);
    expect(matches(f, exit({}))).toBe(false);
  });

  it('accepts signals as numbers, short names and quoted names', () => {
    expect(matches('signal == 11', exit({}))).toBe(true);
    expect(matches('signal == segv', exit({}))).toBe(true);
    expect(matches('signal == "SIGSEGV"', exit({}))).toBe(true);
    expect(matches('signal not in (SEGV)', exit({}))).toBe(false);
  });

  it('gives and precedence over or, and honours parentheses and not', () => {
    const e = exit({ exit_code: 1, signal: null, classification: 'ERROR' });
    expect(matches('code == 2 and host == "x" or unit == "nginx.service"', e)).toBe(true);
    expect(matches('code == 2 and (host == "x" or unit == "nginx.service")', e)).toBe(false);
    expect(matches('not code == 2', e)).toBe(true);
    expect(matches('code >= 1 and code < 2 and class != "CLEAN"', e)).toBe(true);
  });

  it('reads a field an event lacks as null: equal to null, never matched or ordered', () => {
    const e = exit({ signal: null });
    expect(matches('signal == null', e)).toBe(true);
    expect(matches('signal != 11', e)).toBe(true);
    expect(matches('signal > 0 or signal <= 0', e)).toBe(false);
    expect(matches('signature ~ "."', e)).toBe(false);
  });

  it('compares time with ISO-8601 instants', () => {
    expect(
      matches('time >= "2026-01-01T12:00:00Z" and time < "2026-01-01T12:00:01Z"', exit({})),
    ).toBe(true);
    expect(matches('time < "2026-01-01T11:59:59.999999Z"', exit({}))).toBe(false);
  });

  it('needs only the stamp when every field used is in it', () => {
    expect(compileFilter('type == "exit" and host ~ "^web-"').needsBody).toBe(false);
    expect(compileFilter('type == "exit" and exe ~ "x"').needsBody).toBe(true);
  });

  it.each([
    [
      'type == ',
      '--filter: expected a value (a "string", a number or a word), found the end at column 9 of \'type == \'',
    ],
    ['type = "exit"', "--filter: unexpected character '=' at column 6 of 'type = \"exit\"'"],
    [
      'exe ~ "(" ',
      '--filter: bad regular expression "(": Invalid regular expression: /(/: Unterminated group at column 7 of \'exe ~ "(" \'',
    ],
    [
      'colour == "red"',
      "--filter: unknown field 'colour' (fields: type, host, boot_id, instance_id, seq, time, unit, slice, cgroup, container, pod, exe, comm, user, uid, pid, signal, code, class, signature, kind) at column 1 of 'colour == \"red\"'",
    ],
    [
      'signal in (SIGSEGV, SIGNOPE)',
      "--filter: 'SIGNOPE' is not a signal name at column 21 of 'signal in (SIGSEGV, SIGNOPE)'",
    ],
    [
      '(type == "exit"',
      "--filter: expected ')' to close the '(' at column 1, found the end at column 16 of '(type == \"exit\"'",
    ],
    [
      'type == "exit" host == "a"',
      "--filter: expected 'and', 'or' or the end, found 'host' at column 16 of 'type == \"exit\" host == \"a\"'",
    ],
    ['code == "one"', "--filter: expected a number, found 'one' at column 9 of 'code == \"one\"'"],
    [
      'exe ~ nginx',
      "--filter: '~' needs a text field and a \"quoted\" regular expression at column 7 of 'exe ~ nginx'",
    ],
    [
      'exe == "unterminated',
      '--filter: unterminated string "unterminated at column 8 of \'exe == "unterminated\'',
    ],
  ])('rejects %s naming the column and the token', (source, message) => {
    expect(() => compileFilter(source)).toThrow(UsageError);
    expect(() => compileFilter(source)).toThrow(message);
  });

  it('makes the CLI exit 2 with the error on one line', async () => {
    const err = (await run('node', [
      distFile('cli/main.js'),
      'replay',
      '--from',
      '/nonexistent',
      '--to',
      '/tmp/none',
      '--filter',
      'signal in (SIGSEGV',
    ]).catch((e: unknown) => e)) as { code: number; stderr: string };
    expect(err.code).toBe(2);
    expect(err.stderr).toBe(
      "pidstream: --filter: expected ',' or ')' in the list after 'in', found the end at column 19 of 'signal in (SIGSEGV'\n",
    );
  });
});
