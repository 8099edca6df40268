import avro from 'avsc';
import { describe, expect, it } from 'vitest';

import { Sequencer } from '../ingest/sequencer.js';
import { bodyType, schemaJson } from '../schemas/index.js';
import {
  canonicalForm,
  fingerprintBytes,
  rabinFingerprint,
  singleObjectEncoder,
  unframe,
} from '../streams/wire.js';

// Expected fingerprints were computed with Apache Avro's Java library 1.12.0
// (SchemaNormalization.parsingFingerprint64, written little-endian), the reference
// implementation and independent of the one under test. (The Python library disagrees for
// logical types: it keeps {"type":"string"} where the specification writes "string".)
const JAVA_AVRO_FINGERPRINTS = {
  ProcessExit: '9a5298c01240cc07',
  Coredump: '4eb788487c3ea7a8',
  AgentEvent: 'cd9a61082f41f644',
} as const;

describe('single-object encoding', () => {
  it('computes the CRC-64-AVRO fingerprint of "int" given in the Avro specification tests', () => {
    expect(rabinFingerprint('"int"')).toBe(0x7275d51a3f395c8fn);
  });

  it('fingerprints each event schema as the Java Avro library does', () => {
    for (const [name, hex] of Object.entries(JAVA_AVRO_FINGERPRINTS)) {
      expect(fingerprintBytes(name as keyof typeof JAVA_AVRO_FINGERPRINTS).toString('hex')).toBe(
        hex,
      );
    }
  });

  it('writes a canonical form that avsc parses back to the same wire type', () => {
    const canonical = canonicalForm(schemaJson('Coredump'));
    expect(canonical).not.toMatch(/\s"|"doc"|"default"|"logicalType"/);
    const reparsed = avro.Type.forSchema(JSON.parse(canonical) as avro.Schema);
    expect(reparsed.name).toBe('io.pidstream.Coredump');
  });

  it('frames a record as C3 01 + fingerprint and unframes it to the same bytes', () => {
    const sequencer = new Sequencer({
      host: 'h',
      bootId: '3f1c1d7e-8f7a-4a57-9a38-3d1bfb7f2a10',
      instanceId: '9b2e7c44-1d0c-4f5e-8e0a-6c5d1e2f3a4b',
    });
    const body = bodyType('AgentEvent').toBuffer({
      time: 1_700_000_000_000_000,
      kind: 'START',
      loss_kind: null,
      count: 0,
      message: 'started',
      attributes: {},
    });
    const event = sequencer.stamp('AgentEvent', body);
    const encoder = singleObjectEncoder();
    const value = encoder.frame('AgentEvent', event.bytes);

    expect(value.subarray(0, 10).toString('hex')).toBe(`c301${JAVA_AVRO_FINGERPRINTS.AgentEvent}`);
    expect(encoder.headers('AgentEvent')['pidstream-type']?.toString()).toBe('agent');
    const back = unframe(value, undefined, 't/0@0');
    expect(back.name).toBe('AgentEvent');
    expect(back.record.equals(event.bytes)).toBe(true);
  });

  it('refuses a value with unknown framing, naming where it was read', () => {
    expect(() => unframe(Buffer.from([0x7b, 0x22]), undefined, 'topic/2@17')).toThrow(
      'decoding the message at topic/2@17: unknown framing (first bytes 7b22); expected c301 or 00',
    );
  });
});
