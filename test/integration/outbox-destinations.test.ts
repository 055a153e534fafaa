// One outbox, several destinations, on real files: one copy of each reading and each destination's
// own progress; a filtered destination; one that is down holds nothing back from the others; a
// destination removed from the config stops holding readings back; retention says what each lost.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Outbox } from '../../src/outbox/outbox.ts';
import type { OutboxDestination } from '../../src/outbox/sqlite-outbox.ts';
import { open, tempDataDir } from '../helpers/outbox-files.ts';

const TWO: OutboxDestination[] = [{ id: 'azure' }, { id: 'scada', wants: (sensor) => sensor.startsWith('boiler-') }];

function fill(outbox: Outbox, count: number, sensor = (i: number) => (i % 2 === 0 ? 'boiler-1' : 'room')) {
  for (let i = 0; i < count; i++) outbox.append({ sensorId: sensor(i), ts: Date.now(), values: { i, pad: 'x'.repeat(40) } });
  outbox.flush();
}

function drain(outbox: Outbox, destination: string): number[] {
  const seqs: number[] = [];
  for (let lease = outbox.lease({ max: 500, from: 'oldest', destination }); lease; lease = outbox.lease({ max: 500, from: 'oldest', destination })) {
    seqs.push(...lease.entries.map((e) => e.seq));
    outbox.ack(lease.leaseId);
  }
  return seqs;
}

test('each destination gets every reading it wants once, at its own pace; one that is down holds back none of the others', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { commitBatch: 100 }, { destinations: TWO });
  fill(outbox, 1000);
  const toAzure = drain(outbox, 'azure');
  assert.equal(toAzure.length, 1000);
  assert.equal(outbox.lease({ max: 10, from: 'oldest', destination: 'azure' }), undefined, 'azure has everything');
  assert.equal(outbox.stats().destinations!.azure!.pending, 0);
  assert.equal(outbox.stats().destinations!.scada!.pending > 0, true, 'scada, down, still has its readings waiting');
  fill(outbox, 10);
  assert.equal(drain(outbox, 'azure').length, 10, 'new readings reach azure while scada is down');
  outbox.close();
  // After a restart scada gets only boiler readings, each once; nothing is left for anyone after.
  const reopened = open(dataDir, { commitBatch: 100 }, { destinations: TWO });
  t.after(() => reopened.close());
  const toScada = drain(reopened, 'scada');
  assert.equal(toScada.length, 505);
  assert.equal(new Set(toScada).size, toScada.length);
  assert.equal(drain(reopened, 'azure').length, 0);
  assert.equal(reopened.stats().pending, 0);
});

test('a destination removed from the config stops holding readings back at once', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { commitBatch: 100 }, { destinations: TWO });
  fill(outbox, 300);
  drain(outbox, 'azure');
  assert.ok(outbox.stats().pending > 0, 'scada has not acknowledged anything');
  outbox.close();
  const alone = open(dataDir, { commitBatch: 100 }, { destinations: [{ id: 'azure' }] });
  t.after(() => alone.close());
  assert.equal(alone.stats().pending, 0, 'nothing waits for a destination that is gone');
  assert.equal(alone.lease({ max: 10, from: 'oldest', destination: 'azure' }), undefined);
});

test('retention says what each destination lost: only what it had not acknowledged', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB', commitBatch: 500 }, { destinations: [{ id: 'azure' }, { id: 'waylay' }] });
  t.after(() => outbox.close());
  // azure keeps up, waylay is down.
  for (let chunk = 0; chunk < 64; chunk++) {
    fill(outbox, 500, () => 'boiler-1');
    drain(outbox, 'azure');
  }
  const stats = outbox.stats();
  assert.ok((stats.dropped['boiler-1'] ?? 0) > 0, 'the store was full and dropped readings');
  assert.equal(stats.destinations!.azure!.dropped, 0, 'azure lost nothing: it had every dropped reading already');
  assert.ok(stats.destinations!.waylay!.dropped > 0, 'waylay lost what was dropped before it could have it');
  assert.equal(stats.destinations!.waylay!.dropped, stats.dropped['boiler-1'], 'waylay lost every dropped reading');
  const waylayGets = drain(outbox, 'waylay').length;
  assert.equal(waylayGets + stats.destinations!.waylay!.dropped, 32_000, 'waylay got or lost each reading, none twice');
});

test('a sensor no destination takes is not stored, and counted as dropped with the reason', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, {}, { destinations: [{ id: 'scada', wants: (sensor) => sensor.startsWith('boiler-') }] });
  t.after(() => outbox.close());
  assert.equal(outbox.append({ sensorId: 'room', ts: Date.now(), values: { t: 1 } }), 0);
  assert.ok(outbox.append({ sensorId: 'boiler-1', ts: Date.now(), values: { t: 1 } }) > 0);
  outbox.flush();
  assert.equal(outbox.stats().pending, 1);
  assert.equal(outbox.stats().dropped.room, 1);
});
