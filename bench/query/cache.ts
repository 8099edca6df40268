/**
 * The benchmark's 10-million-event dataset, generated once into a cache directory. `pidstream
 * synth` makes about 15,000 events/s on the project's busy 2-core machine, so it makes a base
 * fleet once and the base is replayed forward in time: every copy shifts each event's `time`
 * by the base's span and gets fresh stamps (sequence numbers and hash chain continue per host),
 * so the result is a valid stream of distinct events.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { Sequencer, encodeLong, type StampedEvent } from '../../ingest/sequencer.js';
import { readLong } from '../../streams/ocf.js';
import { openSink } from '../../streams/open.js';
import { synthGenerator } from './dataset.js';

/** Process events in the synthesised base that copies are made of. */
const BASE_EVENTS = 200_000;
const BASE_RATE = 200;
const WRITE_BATCH = 8192;

interface Stamp {
  host: string;
  bootId: string;
  instanceId: string;
  bodyStart: number;
}

function readString(buf: Buffer, pos: number): { value: string; end: number } {
  const length = readLong(buf, pos)!;
  const end = length.end + length.value;
  return { value: buf.toString('utf8', length.end, end), end };
}

/** The stamp's identity and where the body (which starts with `time`) begins. */
function stampOf(record: Buffer): Stamp {
  const host = readString(record, 0);
  const boot = readString(record, host.end);
  const instance = readString(record, boot.end);
  const seq = readLong(record, instance.end)!;
  return {
    host: host.value,
    bootId: boot.value,
    instanceId: instance.value,
    bodyStart: seq.end + 32,
  };
}

export interface CachedDataset {
  dir: string;
  events: number;
}

/** Writes (once) `events` events into `cacheDir/avro`; later calls reuse them. */
export async function cachedDataset(cacheDir: string, events: number): Promise<CachedDataset> {
  const dir = join(cacheDir, 'avro');
  const marker = join(cacheDir, 'complete.json');
  if (existsSync(marker)) {
    // The marker's count alone is trusted: the cache may be reached through another path (a
    // symlinked `.cache`) than the one it was written under.
    const done = JSON.parse(readFileSync(marker, 'utf8')) as CachedDataset;
    if (done.events >= events) return { dir, events: done.events };
  }
  rmSync(dir, { recursive: true, force: true });

  const base = [
    ...synthGenerator({
      seed: 'bench-query',
      hosts: 200,
      count: BASE_EVENTS,
      rate: BASE_RATE,
      startUs: Date.UTC(2026, 0, 1) * 1000,
    }).events(),
  ].filter((e) => e.name !== 'AgentEvent' || e.seq === 0);
  const spanUs = base[base.length - 1]!.timeUs - base[0]!.timeUs + 1;
  const sequencers = new Map<string, Sequencer>();
  const sink = await openSink(dir);
  let written = 0;
  let batch: StampedEvent[] = [];
  try {
    for (let copy = 0; written < events; copy++) {
      for (const event of base) {
        if (written === events) break;
        if (copy > 0 && event.name === 'AgentEvent') continue;
        const stamp = stampOf(event.bytes);
        let sequencer = sequencers.get(stamp.host);
        if (sequencer === undefined) {
          sequencer = new Sequencer({
            host: stamp.host,
            bootId: stamp.bootId,
            instanceId: stamp.instanceId,
          });
          sequencers.set(stamp.host, sequencer);
        }
        const time = readLong(event.bytes, stamp.bodyStart)!;
        const body = Buffer.concat([
          encodeLong(time.value + copy * spanUs),
          event.bytes.subarray(time.end),
        ]);
        batch.push(sequencer.stamp(event.name, body));
        written++;
        if (batch.length === WRITE_BATCH) {
          await sink.write(batch);
          batch = [];
        }
      }
    }
    await sink.write(batch);
  } finally {
    await sink.close();
  }
  const done = { dir, events: written };
  writeFileSync(marker, JSON.stringify(done));
  return done;
}
