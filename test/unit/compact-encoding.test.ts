// The generic adapter's compact encoding: every reading comes back as the JSON encoding carries it
// (id, seq, sensor, ts, values, clockUnsynced), through the decoder the README documents.
import assert from 'node:assert/strict';
import { inflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import type { TelemetryRecord } from '../../src/cloud/adapter.ts';
import { decodeCompact, encodeCompact } from '../../src/cloud/adapters/mqtt/compact.ts';
import { toGenericItem } from '../../src/cloud/adapters/mqtt.ts';

const record = (seq: number, sensorId: string, ts: number, values: TelemetryRecord['values'], clockUnsynced = false): TelemetryRecord => ({
  id: `gw-1-k3j2h1g0-${seq}`,
  seq,
  sensorId,
  ts,
  values,
  ...(clockUnsynced ? { clockUnsynced: true } : {}),
});

const decodeAll = (messages: { payload: string | Buffer }[]) => messages.flatMap((m) => decodeCompact(m.payload as Buffer, inflateSync));

describe('compact encoding', () => {
  it('round-trips interleaved sensors, changing field sets, nulls, strings, booleans and unsynced clocks', () => {
    const records = [
      record(1, 'boiler', 1_764_270_000_000, { temperature: 21.5, on: true }),
      record(2, 'meter "A"', 1_764_270_000_010, { kwh: 1234.5, state: 'ok', missing: null }),
      record(3, 'boiler', 1_764_270_001_000, { temperature: 21.6, on: false }),
      record(4, 'boiler', 1_764_270_002_000, { temperature: 21.7 }),
      record(5, 'boiler', 1000, { temperature: 21.8, on: true }, true),
    ];
    const { messages, rejected } = encodeCompact(records, 'edge-agent/gw-1/compact', 256 * 1024);
    assert.equal(rejected.length, 0);
    assert.equal(messages.length, 1, 'one message for all sensors');
    const decoded = decodeAll(messages).sort((a, b) => a.seq - b.seq);
    assert.deepEqual(decoded, records.map((r) => ({ ...toGenericItem(r) })));
  });

  it('splits at the size limit without losing or reordering a reading, and refuses one that cannot fit alone', () => {
    const records = Array.from({ length: 2000 }, (_, i) => record(i + 1, `s${i % 7}`, 1_764_270_000_000 + i * 100, { v: Math.round(Math.sin(i) * 1000) / 10, n: i }));
    records.push(record(2001, 'huge', 1, { blob: 'x'.repeat(5000) }));
    const { messages, rejected } = encodeCompact(records, 't', 4096);
    assert.ok(messages.length > 1);
    for (const m of messages) assert.ok((m.payload as Buffer).length <= 4096, `${(m.payload as Buffer).length} bytes`);
    assert.deepEqual(rejected.map((r) => r.record.seq), [2001]);
    assert.deepEqual(decodeAll(messages).map((r) => r.seq).sort((a, b) => a - b), records.slice(0, 2000).map((r) => r.seq));
  });

  it('is small: live (10 sensors, one reading each) and a drained backlog', () => {
    const live = Array.from({ length: 10 }, (_, i) => record(1000 + i, `sensor-${String(i + 1).padStart(2, '0')}`, 1_764_270_000_000 + i, { temperature: 21.53 + i / 10, humidity: 45.2, seq: 100 }));
    const liveBytes = (encodeCompact(live, 'edge-agent/gw/compact', 256 * 1024).messages[0]!.payload as Buffer).length;
    const backlog = Array.from({ length: 500 }, (_, i) => record(1000 + i, `sensor-${String((i % 10) + 1).padStart(2, '0')}`, 1_764_270_000_000 + Math.floor(i / 10) * 1000 + (i % 10), { temperature: Math.round((21 + Math.sin(i / 50)) * 100) / 100, humidity: Math.round((45 + Math.cos(i / 70)) * 10) / 10, seq: Math.floor(i / 10) + 1 }));
    const backlogBytes = (encodeCompact(backlog, 'edge-agent/gw/compact', 256 * 1024).messages[0]!.payload as Buffer).length;
    // Payload only (the benchmark counts MQTT framing on the wire): well inside the 60 and 40 bytes per reading.
    assert.ok(liveBytes / 10 < 40, `${liveBytes / 10} bytes per reading live`);
    assert.ok(backlogBytes / 500 < 20, `${backlogBytes / 500} bytes per reading in a backlog`);
  });
});

describe('the JSON encoding on the hot path', () => {
  it('splices the stored values text and gives exactly what serializing the reading gives', async () => {
    const { genericItemJson } = await import('../../src/cloud/adapters/mqtt.ts');
    const samples: TelemetryRecord['values'][] = [{ t: 21.5, s: 'ä "q" \n', on: true, none: null }, {}, { big: 1e21, neg: -0.000001 }];
    for (const values of samples) {
      for (const clockUnsynced of [false, true]) {
        const r = record(7, 'boiler "1"', 1_764_270_000_000, values, clockUnsynced);
        const stored = { ...r, valuesJson: JSON.stringify(values) };
        assert.equal(genericItemJson(stored), JSON.stringify(toGenericItem(r)));
      }
    }
  });
});
