// Retention on real files: maxBytes with both policies, maxAge, the reserved lane's own budget,
// drop counters that survive restarts, and space given back after a drain.
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { open, outboxConfig, recordingLog, tempDataDir } from '../helpers/outbox-files.ts';

const DAY = 86_400_000;
const big = (sensorId: string, n: number) => ({ sensorId, ts: Date.now(), values: { n, blob: 'x'.repeat(200) } });

function fill(outbox: ReturnType<typeof open>, count: number, sensors = ['a', 'b']): number[] {
  const seqs: number[] = [];
  for (let n = 0; n < count; n++) seqs.push(outbox.append(big(sensors[n % sensors.length]!, n)));
  outbox.flush();
  return seqs;
}

test('drop-oldest keeps the outbox within maxBytes by dropping the oldest, counted per sensor and logged once', (t) => {
  const dataDir = tempDataDir(t);
  const { log, lines } = recordingLog();
  const outbox = openOutbox({ dataDir, agentId: 'gw', config: outboxConfig({ maxBytes: '1MB', reservedBytes: '64KB' }), log });
  const seqs = fill(outbox, 10_000);
  const stats = outbox.stats();
  assert.ok(stats.bytes <= 1024 * 1024, `bytes ${stats.bytes}`);
  const dropped = (stats.dropped.a ?? 0) + (stats.dropped.b ?? 0);
  assert.ok(dropped > 0 && stats.dropped.a! > 0 && stats.dropped.b! > 0);
  assert.equal(stats.pending + dropped, 10_000);
  const lease = outbox.lease({ max: 1, from: 'oldest' })!;
  assert.ok(lease.entries[0]!.seq > seqs[0]!, 'the oldest went');
  assert.equal(outbox.lease({ max: 1, from: 'newest' })!.entries[0]!.seq, seqs.at(-1), 'the newest stayed');
  assert.equal(lines.filter((l) => l.event === 'outbox-dropped').length, 1, 'drops are logged at most once a minute per reason');
  outbox.close();
  const reopened = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB' });
  t.after(() => reopened.close());
  assert.deepEqual(reopened.stats().dropped, stats.dropped, 'drop counters survive a restart');
});

test('drop-newest keeps the backlog and refuses what does not fit', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB', whenFull: 'drop-newest' });
  t.after(() => outbox.close());
  const seqs = fill(outbox, 10_000);
  const stats = outbox.stats();
  assert.ok(stats.bytes <= 1024 * 1024);
  assert.ok(stats.pending < 10_000);
  assert.equal(outbox.lease({ max: 1, from: 'oldest' })!.entries[0]!.seq, seqs[0], 'the oldest stayed');
  assert.ok(outbox.lease({ max: 1, from: 'newest' })!.entries[0]!.seq < seqs.at(-1)!, 'the newest went');
});

test('retention never drops a leased reading', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB' });
  t.after(() => outbox.close());
  fill(outbox, 2000);
  const lease = outbox.lease({ max: 100, from: 'oldest' })!;
  fill(outbox, 10_000);
  outbox.ack(lease.leaseId);
  outbox.flush();
  assert.equal(outbox.stats().pending + Object.values(outbox.stats().dropped).reduce((a, b) => a + b, 0), 12_000 - 100, 'the leased 100 were acked, not dropped');
});

test('maxAge drops old readings, but not those stamped before the clock was synchronized', (t) => {
  const dataDir = tempDataDir(t);
  let now = Date.now();
  const outbox = open(dataDir, { maxAge: '1d' }, { now: () => now });
  outbox.append({ sensorId: 'a', ts: now - 2 * DAY, values: { n: 1 } });
  outbox.append({ sensorId: 'b', ts: now - 2 * DAY, values: { n: 2 } });
  outbox.append({ sensorId: 'a', ts: 1000, values: { n: 3 }, clockUnsynced: true });
  outbox.append({ sensorId: 'a', ts: now, values: { n: 4 } });
  outbox.flush();
  assert.equal(outbox.stats().pending, 4, 'age retention runs at most every few seconds');
  now += 60_000;
  outbox.append({ sensorId: 'a', ts: now, values: { n: 5 } });
  outbox.flush();
  assert.deepEqual(outbox.stats().dropped, { a: 1, b: 1 });
  assert.deepEqual(outbox.lease({ max: 10, from: 'oldest' })!.entries.map((e) => e.values.n), [3, 4, 5]);
  outbox.close();
  now += 2 * DAY;
  const reopened = open(dataDir, { maxAge: '1d' }, { now: () => now });
  t.after(() => reopened.close());
  assert.equal(reopened.stats().pending, 1, 'at start too; the unsynced one stays');
});

test('the reserved lane has its own budget: replies are stored while telemetry is full, and leased first', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB' });
  t.after(() => outbox.close());
  fill(outbox, 10_000);
  assert.ok(Object.keys(outbox.stats().dropped).length > 0, 'telemetry is full');
  const seq = outbox.appendReserved({ reply: 'pong' });
  fill(outbox, 1000);
  assert.equal(outbox.stats().pendingReserved, 1);
  const lease = outbox.lease({ max: 10, from: 'newest' })!;
  assert.deepEqual([lease.entries[0]!.lane, lease.entries[0]!.seq], ['reserved', seq]);
  // Beyond its own budget the reserved lane drops its oldest entries, counted as $reserved.
  for (let i = 0; i < 100; i++) outbox.appendReserved({ reply: 'y'.repeat(1000), i });
  outbox.flush();
  assert.ok(outbox.stats().pendingReserved < 101);
  assert.ok(outbox.stats().dropped.$reserved! > 0);
});

test('delivered replies give their bytes back to the reserved budget: a long-running agent never drops a reply for replies long gone', (t) => {
  const dataDir = tempDataDir(t);
  const outbox = open(dataDir, { maxBytes: '1MB', reservedBytes: '64KB' });
  t.after(() => outbox.close());
  const reply = 'y'.repeat(1000);
  // One reply stays out on lease throughout (its message in flight), so the table is never empty of replies.
  outbox.appendReserved({ reply, stuck: true });
  outbox.purge({ sensorId: 'nobody' });
  assert.equal(outbox.lease({ max: 1, from: 'oldest' })!.entries.length, 1);
  // Ten rounds of 40 KB of replies, each stored in the table (purge moves what is in memory there) and then delivered.
  for (let round = 0; round < 10; round++) {
    for (let i = 0; i < 40; i++) outbox.appendReserved({ reply, round, i });
    outbox.purge({ sensorId: 'nobody' });
    for (let lease = outbox.lease({ max: 100, from: 'oldest' }); lease; lease = outbox.lease({ max: 100, from: 'oldest' })) outbox.ack(lease.leaseId);
    outbox.purge({ sensorId: 'nobody' });
  }
  // 41 KB pending now, within the 64 KB budget: none may be dropped.
  for (let i = 0; i < 40; i++) outbox.appendReserved({ reply, last: i });
  outbox.purge({ sensorId: 'nobody' });
  assert.equal(outbox.stats().pendingReserved, 41);
  assert.equal(outbox.stats().dropped.$reserved, undefined);
});

test('space is given back once an outage has drained', (t) => {
  const dataDir = tempDataDir(t);
  let now = Date.now();
  const outbox = open(dataDir, {}, { now: () => now });
  fill(outbox, 20_000);
  // The database's files; outbox.journal keeps its fixed size (written once, then reused).
  const onDisk = () => ['outbox.db', 'outbox.db-wal', 'outbox.db-journal'].reduce((sum, f) => sum + (existsSync(join(dataDir, f)) ? statSync(join(dataDir, f)).size : 0), 0);
  const peak = onDisk();
  for (let lease = outbox.lease({ max: 1000, from: 'oldest' }); lease; lease = outbox.lease({ max: 1000, from: 'oldest' })) outbox.ack(lease.leaseId);
  outbox.flush();
  now += 60_000;
  outbox.append(big('a', 1));
  outbox.flush();
  const after = onDisk();
  assert.ok(after < peak / 4, `peak ${peak} bytes, after the drain ${after} bytes`);
  outbox.close();
});
