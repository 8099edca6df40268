/**
 * Synthetic stamped events for the Kafka, spool and verify suites: a Sequencer over
 * AgentEvent NOTICE bodies, each message naming its index so a test can tell them apart.
 */
import { randomUUID } from 'node:crypto';

import { Sequencer, type StampedEvent } from '../../ingest/sequencer.js';
import { bodyType } from '../../schemas/index.js';

export const TEST_BOOT_ID = '3f1c1d7e-8f7a-4a57-9a38-3d1bfb7f2a10';

export function testSequencer(host = 'host-test'): Sequencer {
  return new Sequencer({ host, bootId: TEST_BOOT_ID, instanceId: randomUUID() });
}

export function noticeBody(message: string, time = 1_700_000_000_000_000): Buffer {
  return bodyType('AgentEvent').toBuffer({
    time,
    kind: 'NOTICE',
    loss_kind: null,
    count: 0,
    message,
    attributes: {},
  });
}

/** `count` events `event-<n>` from the sequencer, in order. */
export function notices(sequencer: Sequencer, count: number, padding = 0): StampedEvent[] {
  const out: StampedEvent[] = [];
  const pad = 'x'.repeat(padding);
  for (let i = 0; i < count; i++) {
    out.push(sequencer.stamp('AgentEvent', noticeBody(`event-${sequencer.nextSeq}${pad}`)));
  }
  return out;
}
