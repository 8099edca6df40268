/**
 * Opens the sink or source a URI names (streams/uri.ts): a directory or file of Avro container
 * files, `-` for JSON lines on standard output / standard input, or a Kafka topic.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

import { PidstreamError } from '../common/errors.js';
import { AvroFileSink, type AvroFileSinkOptions } from './avro-file-sink.js';
import { AvroFileSource, type AvroFileSourceOptions } from './avro-file-source.js';
import { JsonLinesSink, JsonLinesSource } from './json-lines.js';
import { DEFAULT_TOPICS } from './kafka-client.js';
import { KafkaSink, type KafkaSinkOptions } from './kafka-sink.js';
import { KafkaSource } from './kafka-source.js';
import type { EventSink, EventSource } from './types.js';
import { parseStreamUri, type StreamUri } from './uri.js';

export interface OpenSinkOptions extends Omit<AvroFileSinkOptions, 'dir'> {
  /** Where `-` writes; standard output unless a test or a tool passes another stream. */
  stdout?: Writable;
  /**
   * For kafka:// destinations: spool directory (when absent, a fresh one under the system temp
   * directory, removed when the sink closes with everything delivered), schema registry,
   * compression, transport and the rest of the Kafka sink's settings.
   */
  kafka?: Partial<Omit<KafkaSinkOptions, 'brokers' | 'topics'>>;
}

export interface OpenSourceOptions extends AvroFileSourceOptions {
  /** Where `-` reads; standard input by default. */
  stdin?: Readable;
  /** For kafka:// sources: wall-clock milliseconds bounds, found with Kafka's time index. */
  kafkaFromTimeMs?: number;
  kafkaToTimeMs?: number;
}

function asUri(uri: StreamUri | string, flag: string): StreamUri {
  return typeof uri === 'string' ? parseStreamUri(uri, flag) : uri;
}

function unsupported(uri: StreamUri): PidstreamError {
  return new PidstreamError(
    'PIDSTREAM_ERR_URI',
    `${uri.raw}: ${uri.kind} streams cannot be opened here`,
  );
}

/** A sink for `uri` (a string is parsed as the value of `--out`), opened and ready to write. */
export async function openSink(
  uri: StreamUri | string,
  options: OpenSinkOptions = {},
): Promise<EventSink> {
  const parsed = asUri(uri, '--out');
  switch (parsed.kind) {
    case 'files': {
      const sink = new AvroFileSink({
        dir: parsed.path,
        maxBytes: options.maxBytes,
        maxAgeMs: options.maxAgeMs,
        syncIntervalMs: options.syncIntervalMs,
        syncEachBlock: options.syncEachBlock,
        now: options.now,
      });
      await sink.open();
      return sink;
    }
    case 'stdio':
      return new JsonLinesSink(options.stdout ?? process.stdout);
    case 'kafka': {
      // A named topic takes every event type; without one, each type goes to its own topic.
      const topic = parsed.topic;
      const topics =
        topic === null
          ? DEFAULT_TOPICS
          : { ProcessExit: topic, Coredump: topic, AgentEvent: topic };
      // Without a spool of its own the sink gets a throw-away one, removed when it closes
      // with everything delivered.
      const given = options.kafka?.spoolDir;
      const spoolDir = given ?? mkdtempSync(join(tmpdir(), 'pidstream-spool-'));
      try {
        return await KafkaSink.open({
          ...options.kafka,
          spoolDir,
          spoolIsTemporary: given === undefined,
          brokers: parsed.brokers,
          topics,
        });
      } catch (err) {
        if (given === undefined) rmSync(spoolDir, { recursive: true, force: true });
        throw err;
      }
    }
    default:
      throw unsupported(parsed);
  }
}

/** A source for `uri` (a string is parsed as the value of `--from`). */
export async function openSource(
  uri: StreamUri | string,
  options: OpenSourceOptions = {},
): Promise<EventSource> {
  const parsed = asUri(uri, '--from');
  switch (parsed.kind) {
    case 'files': {
      const source = new AvroFileSource(parsed.path, options);
      await source.files();
      return source;
    }
    case 'stdio':
      return new JsonLinesSource(options.stdin ?? process.stdin);
    case 'kafka':
      return new KafkaSource({
        brokers: parsed.brokers,
        topics: parsed.topic === null ? Object.values(DEFAULT_TOPICS) : [parsed.topic],
        fromTimeMs: options.kafkaFromTimeMs,
        toTimeMs: options.kafkaToTimeMs,
      });
    default:
      throw unsupported(parsed);
  }
}
