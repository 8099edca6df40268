import { createHash } from 'node:crypto';

import avro from 'avsc';
import { describe, expect, it } from 'vitest';

import { DIGEST_SIZE, encodeLong, Sequencer } from '../ingest/sequencer.js';
import { bodyType, eventType } from '../schemas/index.js';

const identity = {
  host: 'host-a',
  bootId: '3f1c1d7e-8f7a-4a57-9a38-3d1bfb7f2a10',
  instanceId: '9b2e7c44-1d0c-4f5e-8e0a-6c5d1e2f3a4b',
};

function agentBody(message: string): Buffer {
  return bodyType('AgentEvent').toBuffer({
    time: 1_700_000_000_000_000,
    kind: 'NOTICE',
    loss_kind: null,
    count: 0,
    message,
    attributes: {},
  });
}

describe('Sequencer', () => {
  it('produces full records that decode with the event schema, numbered from 0', () => {
    const seq = new Sequencer(identity);
    const first = seq.stamp('AgentEvent', agentBody('one'));
    const second = seq.stamp('AgentEvent', agentBody('two'));

    const a = eventType('AgentEvent').fromBuffer(first.bytes) as Record<string, unknown>;
    const b = eventType('AgentEvent').fromBuffer(second.bytes) as Record<string, unknown>;
    expect(a.agent).toEqual({
      host: 'host-a',
      boot_id: identity.bootId,
      instance_id: identity.instanceId,
      seq: 0,
      prev_digest: Buffer.alloc(DIGEST_SIZE),
    });
    expect(a.message).toBe('one');
    expect((b.agent as { seq: number }).seq).toBe(1);
    expect(b.message).toBe('two');
  });

  it('chains each event to the SHA-256 of the full record before it', () => {
    const seq = new Sequencer(identity);
    const first = seq.stamp('AgentEvent', agentBody('one'));
    const second = seq.stamp('AgentEvent', agentBody('two'));

    const b = eventType('AgentEvent').fromBuffer(second.bytes) as {
      agent: { prev_digest: Buffer };
    };
    const expected = createHash('sha256').update(first.bytes).digest();
    expect(b.agent.prev_digest.equals(expected)).toBe(true);
    expect(seq.lastDigest.equals(createHash('sha256').update(second.bytes).digest())).toBe(true);
  });

  it('encodes sequence numbers past one varint byte the way avsc does', () => {
    const seq = new Sequencer(identity, { seq: 300_000, prevDigest: Buffer.alloc(32, 7) });
    const event = seq.stamp('AgentEvent', agentBody('late'));

    const decoded = eventType('AgentEvent').fromBuffer(event.bytes) as {
      agent: { seq: number; prev_digest: Buffer };
    };
    expect(decoded.agent.seq).toBe(300_000);
    expect(decoded.agent.prev_digest.equals(Buffer.alloc(32, 7))).toBe(true);
  });

  it('matches avsc for zig-zag longs at the varint boundaries', () => {
    const long = avro.Type.forSchema('long');
    for (const n of [0, 1, 63, 64, 8191, 8192, 2 ** 31, 2 ** 40 + 3, -1, -65]) {
      expect(encodeLong(n).equals(long.toBuffer(n))).toBe(true);
    }
  });
});
