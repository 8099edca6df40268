/**
 * The one syntax for sources and destinations across the CLI:
 *   kafka://host:port[,host:port…][/topic]   a Kafka topic (no topic: the agent's three topics)
 *   -                                        JSON lines on stdout (or standard input)
 *   anything else                            a directory or file of Avro container files
 */
import { UsageError } from '../common/errors.js';

export type StreamUri =
  | { kind: 'kafka'; brokers: string[]; topic: string | null; raw: string }
  | { kind: 'stdio'; raw: string }
  | { kind: 'files'; path: string; raw: string };

const HOST_PORT = /^[A-Za-z0-9.-]+:\d{1,5}$|^\[[0-9A-Fa-f:]+\]:\d{1,5}$/;

/** Parses a URI given to `flag` (named in the error), e.g. `--from`. */
export function parseStreamUri(raw: string, flag: string): StreamUri {
  if (raw === '')
    throw new UsageError(`${flag}: empty value; expected a path, - or kafka://host:port/topic`);
  if (raw === '-') return { kind: 'stdio', raw };
  if (raw.startsWith('kafka://')) {
    const rest = raw.slice('kafka://'.length);
    const slash = rest.indexOf('/');
    const hosts = slash === -1 ? rest : rest.slice(0, slash);
    const topic = slash === -1 ? '' : rest.slice(slash + 1);
    const brokers = hosts.split(',').filter((h) => h !== '');
    if (brokers.length === 0)
      throw new UsageError(`${flag}: ${raw} names no broker; expected kafka://host:port/topic`);
    for (const broker of brokers) {
      if (!HOST_PORT.test(broker)) {
        throw new UsageError(`${flag}: broker '${broker}' in ${raw} is not host:port`);
      }
    }
    if (topic !== '' && !/^[A-Za-z0-9._-]{1,249}$/.test(topic)) {
      throw new UsageError(`${flag}: topic '${topic}' in ${raw} is not a valid Kafka topic name`);
    }
    return { kind: 'kafka', brokers, topic: topic === '' ? null : topic, raw };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//.test(raw)) {
    throw new UsageError(
      `${flag}: unknown scheme in ${raw}; expected a path, - or kafka://host:port/topic`,
    );
  }
  return { kind: 'files', path: raw, raw };
}
