import { describe, expect, it } from 'vitest';

import { UsageError } from '../common/errors.js';
import { parseStreamUri } from '../streams/uri.js';

describe('parseStreamUri', () => {
  it('reads a Kafka URI with several brokers and a topic', () => {
    expect(parseStreamUri('kafka://a:9092,10.0.0.2:19092/pidstream.exits', '--from')).toEqual({
      kind: 'kafka',
      brokers: ['a:9092', '10.0.0.2:19092'],
      topic: 'pidstream.exits',
      raw: 'kafka://a:9092,10.0.0.2:19092/pidstream.exits',
    });
  });

  it('reads a Kafka URI without a topic as all of the agent topics', () => {
    expect(parseStreamUri('kafka://127.0.0.1:9092', '--to')).toMatchObject({ topic: null });
  });

  it('takes - as standard input or output and anything else as a path', () => {
    expect(parseStreamUri('-', '--to')).toEqual({ kind: 'stdio', raw: '-' });
    expect(parseStreamUri('./out', '--from')).toEqual({
      kind: 'files',
      path: './out',
      raw: './out',
    });
  });

  it('names the flag and the bad broker', () => {
    expect(() => parseStreamUri('kafka://nohost/t', '--from')).toThrow(UsageError);
    expect(() => parseStreamUri('kafka://nohost/t', '--from')).toThrow(
      "--from: broker 'nohost' in kafka://nohost/t is not host:port",
    );
    expect(() => parseStreamUri('s3://bucket/x', '--to')).toThrow(
      '--to: unknown scheme in s3://bucket/x; expected a path, - or kafka://host:port/topic',
    );
  });
});
