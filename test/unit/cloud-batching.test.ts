import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TelemetryRecord } from '../../src/cloud/adapter.ts';
import { packJsonArrays } from '../../src/cloud/batching.ts';
import { fromStoredMessage, toStoredMessage } from '../../src/cloud/stored-message.ts';

const record = (seq: number, sensorId = 's1', extra = ''): TelemetryRecord => ({ id: `a-${seq}`, seq, sensorId, ts: 1_700_000_000_000 + seq, values: { seq, note: extra } });

describe('packJsonArrays', () => {
  it('keeps every message within the limit and every record exactly once', () => {
    const records = Array.from({ length: 500 }, (_, i) => record(i + 1));
    const { messages, rejected } = packJsonArrays(records, (r) => r, 4096, () => 't');
    assert.equal(rejected.length, 0);
    assert.ok(messages.length > 1);
    const seqs: number[] = [];
    for (const m of messages) {
      assert.ok(Buffer.byteLength(m.payload) <= 4096, `${Buffer.byteLength(m.payload)} bytes`);
      for (const item of JSON.parse(m.payload as string) as TelemetryRecord[]) seqs.push(item.seq);
    }
    assert.deepEqual(seqs, records.map((r) => r.seq));
  });
  it('rejects a record that cannot fit alone, and sends the rest', () => {
    const { messages, rejected } = packJsonArrays([record(1), record(2, 's1', 'x'.repeat(5000)), record(3)], (r) => r, 1024, () => 't');
    assert.deepEqual(rejected.map((r) => r.record.seq), [2]);
    assert.match(rejected[0]!.reason, /limit of 1024 bytes/);
    assert.equal(messages.length, 1);
  });
  it('starts a new message when the topic changes', () => {
    const { messages } = packJsonArrays([record(1, 'a'), record(2, 'a'), record(3, 'b')], (r) => r, 100_000, (r) => `t/${r.sensorId}`);
    assert.deepEqual(messages.map((m) => m.topic), ['t/a', 't/b']);
  });
});

describe('stored messages (reserved lane)', () => {
  it('round-trips binary payloads and MQTT 5 properties', () => {
    const original = { topic: 'x/y', payload: Buffer.from([0, 1, 2, 255]), qos: 1 as const, properties: { correlationData: Buffer.from('abc'), responseTopic: 'r', userProperties: { a: 'b' } } };
    const back = fromStoredMessage(JSON.parse(JSON.stringify(toStoredMessage(original))));
    assert.deepEqual(back, original);
  });
  it('refuses what is not a stored message', () => {
    assert.equal(fromStoredMessage({ kind: 'other' }), undefined);
    assert.equal(fromStoredMessage(null), undefined);
  });
});
