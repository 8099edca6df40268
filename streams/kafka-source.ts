/**
 * Reads pidstream events back from Kafka topics (a topic that does not exist reads as empty):
 * every partition, from a start (the earliest
 * offset, or the first message at or after a time) to the end offsets as they stood when the
 * read began (or the first message after an end time), then stops. Yields each event's full
 * Avro record with the wire framing stripped, so the hash chain can be checked on it.
 *
 * kafkajs has no manual partition assignment, so the read uses a consumer group of its own (a
 * random name, never committed) and seeks every partition to its start once assigned.
 */
import { randomUUID } from 'node:crypto';

import type { Consumer, EachBatchPayload } from 'kafkajs';

import { PidstreamError } from '../common/errors.js';
import { kafkaClient } from './kafka-client.js';
import type { EventSource, ReadEvent } from './types.js';
import { HEADER_TYPE, recordTimeUs, unframe } from './wire.js';

export interface KafkaSourceOptions {
  brokers: readonly string[];
  topics: readonly string[];
  /** Wall-clock milliseconds: start at the first message whose Kafka timestamp is at or after. */
  fromTimeMs?: number;
  /** Wall-clock milliseconds: stop before the first message whose timestamp is after. */
  toTimeMs?: number;
}

/** Batches handed from kafkajs to the reader before kafkajs waits: bounds memory. */
const MAX_QUEUED_BATCHES = 4;

interface Range {
  start: number;
  end: number;
}

function rangeKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

export class KafkaSource implements EventSource {
  readonly #options: KafkaSourceOptions;
  #consumer: Consumer | null = null;

  constructor(options: KafkaSourceOptions) {
    if (options.topics.length === 0) {
      throw new PidstreamError('PIDSTREAM_ERR_SOURCE', 'reading Kafka: no topic given');
    }
    this.#options = options;
  }

  async *events(): AsyncIterable<ReadEvent> {
    const ranges = await this.#ranges();
    const open = new Set([...ranges].filter(([, r]) => r.start < r.end).map(([k]) => k));
    if (open.size === 0) return;

    const queue: ReadEvent[][] = [];
    let wakeReader: (() => void) | null = null;
    let wakeWriter: (() => void) | null = null;
    let failure: unknown = null;
    const signal = (): void => {
      wakeReader?.();
      wakeReader = null;
    };

    const kafka = kafkaClient(this.#options.brokers, 'pidstream-reader');
    const consumer = kafka.consumer({
      groupId: `pidstream-read-${randomUUID()}`,
      allowAutoTopicCreation: false,
      maxWaitTimeInMs: 200,
    });
    this.#consumer = consumer;
    const eachBatch = async ({ batch }: EachBatchPayload): Promise<void> => {
      const key = rangeKey(batch.topic, batch.partition);
      const range = ranges.get(key);
      if (range === undefined || !open.has(key)) return;
      const out: ReadEvent[] = [];
      for (const message of batch.messages) {
        const offset = Number(message.offset);
        if (offset < range.start) continue;
        if (offset >= range.end) break;
        const where = `${key}@${offset}`;
        const header = message.headers?.[HEADER_TYPE];
        const { name, record } = unframe(
          message.value ?? Buffer.alloc(0),
          header === undefined ? undefined : header.toString(),
          where,
        );
        out.push({ name, bytes: record, timeUs: recordTimeUs(record), position: where });
      }
      const last = batch.messages[batch.messages.length - 1];
      if (last !== undefined && Number(last.offset) + 1 >= range.end) open.delete(key);
      if (out.length > 0) queue.push(out);
      signal();
      while (queue.length >= MAX_QUEUED_BATCHES) {
        await new Promise<void>((resolve) => (wakeWriter = resolve));
      }
    };

    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...this.#options.topics], fromBeginning: true });
      consumer.on(consumer.events.CRASH, ({ payload }) => {
        failure = payload.error;
        signal();
      });
      await consumer.run({
        autoCommit: false,
        eachBatch: async (payload) => {
          try {
            await eachBatch(payload);
          } catch (err) {
            failure = err;
            signal();
          }
        },
      });
      for (const [key, range] of ranges) {
        const slash = key.lastIndexOf('/');
        consumer.seek({
          topic: key.slice(0, slash),
          partition: Number(key.slice(slash + 1)),
          offset: String(range.start),
        });
      }
      for (;;) {
        const next = queue.shift();
        if (next !== undefined) {
          const writer = wakeWriter as (() => void) | null;
          wakeWriter = null;
          writer?.();
          yield* next;
          continue;
        }
        if (failure !== null) {
          throw new PidstreamError(
            'PIDSTREAM_ERR_SOURCE',
            `reading ${this.#options.topics.join(',')} from ${this.#options.brokers.join(',')}: ${String(failure)}`,
            { cause: failure },
          );
        }
        if (open.size === 0) break;
        await new Promise<void>((resolve) => (wakeReader = resolve));
      }
    } finally {
      this.#consumer = null;
      const writer = wakeWriter as (() => void) | null;
      writer?.();
      await consumer.disconnect();
    }
  }

  async close(): Promise<void> {
    await this.#consumer?.disconnect();
  }

  /** Start and end offset of every partition of every topic. */
  async #ranges(): Promise<Map<string, Range>> {
    const kafka = kafkaClient(this.#options.brokers, 'pidstream-reader');
    const admin = kafka.admin();
    const ranges = new Map<string, Range>();
    try {
      await admin.connect();
      // A topic that does not exist holds no events: an agent that never saw a crash has no
      // coredumps topic yet, and reading all three topics must still work.
      const existing = new Set(await admin.listTopics());
      for (const topic of this.#options.topics.filter((t) => existing.has(t))) {
        const bounds = await admin.fetchTopicOffsets(topic);
        const starts =
          this.#options.fromTimeMs === undefined
            ? null
            : await admin.fetchTopicOffsetsByTimestamp(topic, this.#options.fromTimeMs);
        const ends =
          this.#options.toTimeMs === undefined
            ? null
            : await admin.fetchTopicOffsetsByTimestamp(topic, this.#options.toTimeMs + 1);
        for (const b of bounds) {
          const start = starts?.find((s) => s.partition === b.partition)?.offset ?? b.low;
          const end = ends?.find((e) => e.partition === b.partition)?.offset ?? b.high;
          // A time with no message at or after it yields -1: nothing to read from there.
          const high = Number(b.high);
          const from = Number(start) < 0 ? high : Math.max(Number(start), Number(b.low));
          const to = Number(end) < 0 ? high : Math.min(Number(end), high);
          ranges.set(rangeKey(topic, b.partition), { start: from, end: to });
        }
      }
    } catch (err) {
      throw new PidstreamError(
        'PIDSTREAM_ERR_SOURCE',
        `looking up the offsets of ${this.#options.topics.join(',')} on ${this.#options.brokers.join(',')}: ${String(err)}`,
        { cause: err },
      );
    } finally {
      await admin.disconnect();
    }
    return ranges;
  }
}
