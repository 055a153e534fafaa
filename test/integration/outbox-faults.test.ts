// Faults on real files: a full disk (the file capped with max_page_count), a corrupt file at start,
// a data directory that cannot be written.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { DataDirError } from '../../src/errors.ts';
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { open, outboxConfig, recordingLog, tempDataDir } from '../helpers/outbox-files.ts';

const reading = (n: number) => ({ sensorId: `s${n % 2}`, ts: Date.now(), values: { n, pad: 'p'.repeat(100) } });
/** 120 pages of 4 KB: room for a few thousand readings. */
const PAGES = 120;

test('disk full (drop-newest): appends keep working, drops are counted, and it recovers when space returns', (t) => {
  const dataDir = tempDataDir(t);
  const { log, lines } = recordingLog();
  const outbox = openOutbox({ dataDir, agentId: 'gw', config: outboxConfig({ whenFull: 'drop-newest', commitBatch: 100 }), log, maxPageCount: PAGES });
  t.after(() => outbox.close());
  let n = 0;
  while (!outbox.stats().diskFull && n < 50_000) outbox.append(reading(n++));
  assert.equal(outbox.stats().diskFull, true, 'SQLITE_FULL was reached');
  assert.equal(lines.filter((l) => l.event === 'outbox-disk-full').length, 1);
  const stored = outbox.stats().pending;
  // Held in memory up to a bound (10,000 here), then the newest are dropped: memory stays bounded.
  for (let i = 0; i < 12_000; i++) outbox.append(reading(n++));
  outbox.flush();
  assert.ok(Object.values(outbox.stats().dropped).reduce((a, b) => a + b, 0) >= 2000);
  assert.equal(outbox.stats().pending, stored, 'the backlog is kept');
  // Space returns: the cloud takes the backlog, round after round, and the held readings get stored.
  for (let round = 0; round < 20 && outbox.stats().committedSeq < outbox.stats().lastSeq; round++) {
    for (let lease = outbox.lease({ max: 500, from: 'oldest' }); lease; lease = outbox.lease({ max: 500, from: 'oldest' })) outbox.ack(lease.leaseId);
    outbox.flush();
  }
  assert.equal(outbox.stats().committedSeq, outbox.stats().lastSeq, 'everything held was stored');
  assert.equal(outbox.stats().diskFull, false);
  assert.ok(lines.some((l) => l.event === 'outbox-write-recovered'));
  const seq = outbox.append(reading(n++));
  outbox.flush();
  assert.equal(outbox.stats().committedSeq, seq);
});

test('disk full (drop-oldest): the oldest readings make room for new ones', (t) => {
  const dataDir = tempDataDir(t);
  const { log, lines } = recordingLog();
  const outbox = openOutbox({ dataDir, agentId: 'gw', config: outboxConfig({ commitBatch: 100 }), log, maxPageCount: PAGES });
  t.after(() => outbox.close());
  let n = 0;
  while (!lines.some((l) => l.event === 'outbox-disk-full') && n < 50_000) outbox.append(reading(n++));
  assert.ok(n < 50_000, 'SQLITE_FULL was reached');
  for (let i = 0; i < 5000; i++) outbox.append(reading(n++));
  const last = outbox.append(reading(n++));
  outbox.flush();
  assert.equal(outbox.stats().diskFull, false, 'recovered by dropping the oldest');
  assert.equal(outbox.stats().committedSeq, last);
  assert.equal(outbox.lease({ max: 1, from: 'newest' })!.entries[0]!.seq, last);
  assert.ok(outbox.lease({ max: 1, from: 'oldest' })!.entries[0]!.seq > 1);
  assert.ok(Object.values(outbox.stats().dropped).reduce((a, b) => a + b, 0) > 0);
});

test('a corrupt file is moved aside as outbox.corrupt-<time>.db, logged, and a fresh outbox opened', (t) => {
  const dataDir = tempDataDir(t);
  const garbage = Buffer.from('this is not a database, but a technician may need it'.repeat(200));
  writeFileSync(join(dataDir, 'outbox.db'), garbage);
  const { log, lines } = recordingLog();
  const outbox = openOutbox({ dataDir, agentId: 'gw', config: outboxConfig(), log });
  t.after(() => outbox.close());
  const aside = readdirSync(dataDir).filter((f) => /^outbox\.corrupt-.+\.db$/.test(f));
  assert.equal(aside.length, 1);
  assert.deepEqual(readFileSync(join(dataDir, aside[0]!)), garbage, 'kept byte for byte');
  const logged = lines.find((l) => l.event === 'outbox-corrupt');
  assert.ok(logged && logged.level === 50 && logged.msg.includes(aside[0]!));
  const seq = outbox.append(reading(1));
  outbox.flush();
  assert.equal(outbox.lease({ max: 1, from: 'oldest' })!.entries[0]!.seq, seq);
});

test('a damaged page inside a real outbox is caught at start; ids of the fresh store differ from the old one', (t) => {
  const dataDir = tempDataDir(t);
  const first = open(dataDir);
  for (let n = 0; n < 5000; n++) first.append(reading(n));
  first.flush();
  const oldId = first.lease({ max: 1, from: 'oldest' })!.entries[0]!.id;
  first.close();
  const file = join(dataDir, 'outbox.db');
  const bytes = readFileSync(file);
  bytes.fill(0xa5, 4096 * 3, 4096 * 6);
  writeFileSync(file, bytes);
  const outbox = open(dataDir);
  t.after(() => outbox.close());
  assert.equal(readdirSync(dataDir).filter((f) => f.startsWith('outbox.corrupt-')).length, 1);
  assert.equal(outbox.stats().pending, 0);
  outbox.append(reading(1));
  outbox.flush();
  const newId = outbox.lease({ max: 1, from: 'oldest' })!.entries[0]!.id;
  assert.equal(newId.split('-').at(-1), oldId.split('-').at(-1), 'seq restarted at 1');
  assert.notEqual(newId, oldId, 'but the store epoch keeps the id unique');
});

test('an unusable data directory is a DataDirError naming the directory and the fix', (t) => {
  const parent = tempDataDir(t);
  const blocker = join(parent, 'not-a-dir');
  writeFileSync(blocker, '');
  const dataDir = join(blocker, 'edge-agent');
  assert.throws(
    () => open(dataDir),
    (error: unknown) => error instanceof DataDirError && error.message.includes(dataDir) && /chown/.test(error.message),
  );
  assert.equal(existsSync(join(dataDir, 'outbox.db')), false);
});
