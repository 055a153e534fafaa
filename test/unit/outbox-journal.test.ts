// The outbox journal on real files: frames come back as written, a torn or damaged tail is cut off
// (and only the tail), frames never straddle a 4 KB page, and a reading acknowledged before its
// commit is never written.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { OutboxJournal } from '../../src/outbox/journal.ts';
import { decodeFrame, encodeFrame } from '../../src/outbox/journal-frame.ts';
import { open, tempDataDir } from '../helpers/outbox-files.ts';

describe('outbox journal', () => {
  it('reads back its frames and generation; a torn last frame ends them, and the next frame takes its place', (t) => {
    const path = join(tempDataDir(t), 'j');
    const { journal: first } = OutboxJournal.open(path, true);
    const journal = first.recreate(7, 64 * 1024)!;
    journal.append('{"a":1}');
    journal.append('{"b":2}');
    journal.close();
    assert.equal(statSync(path).size, 64 * 1024, 'written to its full size once');
    // A power cut in the middle of the third frame: its length is there, its checksum never made it.
    const bytes = readFileSync(path);
    const end = 8 + '{"g":7}'.length + 2 * (8 + 7);
    bytes.writeUInt32LE(100, end);
    bytes.fill(0x41, end + 8, end + 30);
    writeFileSync(path, bytes);
    const again = OutboxJournal.open(path, true);
    assert.equal(again.contents.generation, 7);
    assert.deepEqual(again.contents.frames, ['{"a":1}', '{"b":2}']);
    again.journal.append('{"c":3}');
    again.journal.close();
    assert.deepEqual(OutboxJournal.open(path, true).contents.frames, ['{"a":1}', '{"b":2}', '{"c":3}'], 'the next frame follows the intact ones');
  });

  it('after a reset, frames of the older generation further on do not count', (t) => {
    const path = join(tempDataDir(t), 'j');
    const { journal } = OutboxJournal.open(path, true);
    journal.reset(1);
    for (let i = 0; i < 5; i++) journal.append(`{"old":${i}}`);
    journal.reset(2);
    journal.append('{"new":0}');
    journal.close();
    assert.deepEqual(OutboxJournal.open(path, true).contents, { generation: 2, frames: ['{"new":0}'] });
  });

  it('stops at a frame whose checksum fails', (t) => {
    const path = join(tempDataDir(t), 'j');
    const { journal } = OutboxJournal.open(path, true);
    journal.reset(1);
    journal.append('{"a":1}');
    journal.append('{"b":2}');
    journal.close();
    const bytes = readFileSync(path);
    bytes[bytes.length - 2] = 0x41;
    writeFileSync(path, bytes);
    assert.deepEqual(OutboxJournal.open(path, true).contents.frames, ['{"a":1}']);
  });

  it('never lets a frame that fits in a page straddle two', (t) => {
    const path = join(tempDataDir(t), 'j');
    const { journal } = OutboxJournal.open(path, true);
    journal.reset(1);
    const payload = `{"p":"${'x'.repeat(1500)}"}`;
    for (let i = 0; i < 10; i++) {
      const before = journal.bytes;
      journal.append(payload);
      const start = journal.bytes - (payload.length + 8);
      assert.equal(Math.floor(start / 4096), Math.floor((journal.bytes - 1) / 4096), `frame ${i} (${before}..${journal.bytes}) stays in one page`);
    }
    journal.close();
    assert.equal(OutboxJournal.open(path, true).contents.frames.length, 10, 'padding is skipped when reading');
  });

  it('frames splice the stored values text and decode to the same readings', () => {
    const frame = {
      readings: [{ seq: 5, sensorId: 'boiler "1"', ts: 1000, flags: 1, vals: '{"t":21.5,"s":"ok"}' }],
      reserved: [{ seq: 6, ts: 2, body: '{"topic":"x"}', dest: 'azure' }],
      acked: new Map([
        ['cloud', [{ lo: 1, hi: 3 }]],
        ['azure', [{ lo: 2, hi: 2 }]],
      ]),
      ackedReserved: [4],
      drops: [['a', 2]] as [string, number][],
    };
    assert.deepEqual(decodeFrame(encodeFrame(frame)), frame);
  });

  it('reads a frame from before destinations as the single cloud\'s', () => {
    const frame = decodeFrame('{"v":[[6,2,{"topic":"x"}]],"a":[[1,3]]}');
    assert.deepEqual(frame.acked, new Map([['cloud', [{ lo: 1, hi: 3 }]]]));
    assert.equal(frame.reserved[0]!.dest, 'cloud');
  });

  it('writes nothing for readings acknowledged before their commit', (t) => {
    const dataDir = tempDataDir(t);
    const outbox = open(dataDir);
    t.after(() => outbox.close());
    const journalBytes = () => outbox.stats().bytes;
    const before = journalBytes();
    for (let i = 0; i < 100; i++) {
      outbox.append({ sensorId: 's', ts: Date.now(), values: { i } });
      const lease = outbox.lease({ max: 10, from: 'oldest' })!;
      outbox.ack(lease.leaseId);
      outbox.flush();
    }
    assert.equal(journalBytes(), before);
    assert.equal(outbox.stats().committedSeq, outbox.stats().lastSeq, 'and nothing is waiting to be written');
    // A reading still unacknowledged at its commit is written: it must survive a crash.
    outbox.append({ sensorId: 's', ts: Date.now(), values: { i: 'kept' } });
    outbox.flush();
    assert.ok(journalBytes() > before);
  });

  it('a crash (no close) leaves unacknowledged readings to the next open, acknowledged ones gone, ids never reused', (t) => {
    const dataDir = tempDataDir(t);
    const first = open(dataDir);
    for (let i = 0; i < 10; i++) first.append({ sensorId: 's', ts: Date.now(), values: { i } });
    first.flush();
    first.ack(first.lease({ max: 4, from: 'oldest' })!.leaseId);
    first.flush();
    const delivered = first.append({ sensorId: 's', ts: Date.now(), values: { i: 'acked-before-commit' } });
    first.ack(first.lease({ max: 1, from: 'newest' })!.leaseId);
    // No close(): the process "dies" here, and the next open finds the journal as the crash left it.
    const second = open(dataDir);
    t.after(() => second.close());
    assert.equal(second.stats().pending, 6, 'the four acknowledged are gone; the six others are back');
    const lease = second.lease({ max: 100, from: 'oldest' })!;
    assert.deepEqual(lease.entries.map((e) => e.values.i), [4, 5, 6, 7, 8, 9]);
    assert.ok(second.append({ sensorId: 's', ts: Date.now(), values: {} }) > delivered, 'a delivered reading that was never written keeps its id to itself');
  });
});

describe('an outbox written by the agent before the journal', () => {
  it('opens with its backlog, converted from WAL, ids going on from its lastSeq', async (t) => {
    const { default: Database } = await import('better-sqlite3');
    const dataDir = tempDataDir(t);
    const db = new Database(join(dataDir, 'outbox.db'));
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE readings (seq INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, flags INTEGER NOT NULL, vals TEXT NOT NULL);
      CREATE TABLE reserved (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE drops (sensor TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;`);
    db.pragma('user_version = 1');
    db.prepare("INSERT INTO meta VALUES ('epoch', 'oldepoch'), ('lastSeq', '41')").run();
    for (let seq = 38; seq <= 40; seq++) db.prepare('INSERT INTO readings VALUES (?, ?, ?, 0, ?)').run(seq, 'boiler', Date.now() - 1000 + seq, JSON.stringify({ seq }));
    db.prepare("INSERT INTO reserved VALUES (41, 1700000000000, '{\"topic\":\"r\"}')").run();
    db.close();
    const outbox = open(dataDir);
    t.after(() => outbox.close());
    assert.equal(outbox.stats().pending, 3);
    assert.equal(outbox.stats().pendingReserved, 1);
    assert.equal(existsSync(join(dataDir, 'outbox.db-wal')), false, 'converted to a rollback journal');
    const lease = outbox.lease({ max: 10, from: 'oldest' })!;
    assert.deepEqual(lease.entries.map((e) => e.id), ['gw-1-oldepoch-41', 'gw-1-oldepoch-38', 'gw-1-oldepoch-39', 'gw-1-oldepoch-40'], 'the same ids as before: a cloud deduplicating sees no new readings');
    assert.ok(outbox.append({ sensorId: 'boiler', ts: 2000, values: {} }) > 41);
  });
});
