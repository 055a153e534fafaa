// The Outbox contract: every implementation (the SQLite one, any in-memory one used in tests) must
// pass it. Call outboxContract(name, harness) from a test file.
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import type { OutboxConfig } from '../../src/outbox/config.ts';
import type { Outbox } from '../../src/outbox/outbox.ts';

export interface OutboxHarness {
  /** Opens the outbox under test; a second open() after close() must see what the first stored when `durable`. */
  open(config?: Partial<OutboxConfig>, now?: () => number): Outbox;
  durable: boolean;
  cleanup(): void;
}

export const reading = (sensorId: string, n: number, ts = Date.now()) => ({ sensorId, ts, values: { n, temperature: 20 + n / 10, state: 'ok', on: true, missing: null } });

export function outboxContract(name: string, makeHarness: () => OutboxHarness): void {
  const probe = makeHarness();
  const durable = probe.durable;
  probe.cleanup();
  describe(`Outbox contract: ${name}`, () => {
    let harness: OutboxHarness;
    let outbox: Outbox;
    beforeEach(() => {
      harness = makeHarness();
      outbox = harness.open();
    });
    afterEach(() => {
      outbox.close();
      harness.cleanup();
    });

    it('gives each reading an increasing seq and leases it at once (before its commit), oldest first, values intact', () => {
      const seqs = [1, 2, 3].map((n) => outbox.append(reading('a', n, 1000 + n)));
      assert.deepEqual(seqs, [seqs[0], seqs[0]! + 1, seqs[0]! + 2]);
      const lease = outbox.lease({ max: 10, from: 'oldest' });
      assert.ok(lease);
      assert.deepEqual(lease.entries.map((e) => e.seq), seqs);
      const { seq, id, lane, sensorId, ts, values } = lease.entries[1]!;
      assert.deepEqual({ seq, id, lane, sensorId, ts, values }, { seq: seqs[1], id: lease.entries[1]!.id, lane: 'telemetry', sensorId: 'a', ts: 1002, values: reading('a', 2).values });
      if (lease.entries[1]!.valuesJson !== undefined) assert.deepEqual(JSON.parse(lease.entries[1]!.valuesJson), values, 'the stored text is the same values');
      assert.equal(new Set(lease.entries.map((e) => e.id)).size, 3, 'ids are unique');
    });

    it('keeps the clockUnsynced flag', () => {
      outbox.append({ ...reading('a', 1), clockUnsynced: true });
      outbox.append(reading('a', 2));
      outbox.flush();
      const entries = outbox.lease({ max: 10, from: 'oldest' })!.entries;
      assert.equal(entries[0]!.clockUnsynced, true);
      assert.equal(entries[1]!.clockUnsynced, undefined);
    });

    it('respects max, never hands out a reading twice while leased, and removes it on ack', () => {
      for (let n = 1; n <= 10; n++) outbox.append(reading('a', n));
      outbox.flush();
      const first = outbox.lease({ max: 4, from: 'oldest' })!;
      const second = outbox.lease({ max: 4, from: 'oldest' })!;
      const third = outbox.lease({ max: 4, from: 'oldest' })!;
      assert.deepEqual([first.entries.length, second.entries.length, third.entries.length], [4, 4, 2]);
      const all = [...first.entries, ...second.entries, ...third.entries].map((e) => e.seq);
      assert.equal(new Set(all).size, 10);
      assert.equal(outbox.lease({ max: 4, from: 'oldest' }), undefined);
      assert.equal(outbox.stats().leased, 3);
      outbox.ack(second.leaseId);
      outbox.flush();
      assert.equal(outbox.stats().pending, 6);
      outbox.nack(first.leaseId);
      const again = outbox.lease({ max: 10, from: 'oldest' })!;
      assert.deepEqual(again.entries.map((e) => e.seq), first.entries.map((e) => e.seq), 'a nacked batch comes back as it was');
    });

    it('leases the newest readings first when asked, oldest-first and newest-first leases interleaving', () => {
      for (let n = 1; n <= 10; n++) outbox.append(reading('a', n));
      outbox.flush();
      const newest = outbox.lease({ max: 3, from: 'newest' })!;
      assert.deepEqual(newest.entries.map((e) => e.values.n), [8, 9, 10], 'the newest three, in order');
      const oldest = outbox.lease({ max: 3, from: 'oldest' })!;
      assert.deepEqual(oldest.entries.map((e) => e.values.n), [1, 2, 3]);
      const middle = outbox.lease({ max: 10, from: 'newest' })!;
      assert.deepEqual(middle.entries.map((e) => e.values.n), [4, 5, 6, 7]);
      assert.equal(outbox.lease({ max: 10, from: 'oldest' }), undefined);
    });

    it('treats ack and nack of unknown or finished leases as no-ops', () => {
      outbox.append(reading('a', 1));
      outbox.flush();
      const lease = outbox.lease({ max: 1, from: 'oldest' })!;
      outbox.ack(12345);
      outbox.nack(12345);
      outbox.ack(lease.leaseId);
      outbox.ack(lease.leaseId);
      outbox.nack(lease.leaseId);
      outbox.flush();
      assert.equal(outbox.stats().pending, 0);
      assert.equal(outbox.lease({ max: 1, from: 'oldest' }), undefined);
    });

    it('leases the reserved lane before telemetry, bodies intact', () => {
      outbox.append(reading('a', 1));
      const seq = outbox.appendReserved({ topic: 'replies/1', payload: { ok: true } });
      outbox.flush();
      assert.equal(outbox.stats().pendingReserved, 1);
      const lease = outbox.lease({ max: 1, from: 'oldest' })!;
      assert.equal(lease.entries.length, 1);
      assert.equal(lease.entries[0]!.lane, 'reserved');
      assert.equal(lease.entries[0]!.seq, seq);
      assert.deepEqual(lease.entries[0]!.body, { topic: 'replies/1', payload: { ok: true } });
      const next = outbox.lease({ max: 5, from: 'oldest' })!;
      assert.deepEqual(next.entries.map((e) => e.lane), ['telemetry']);
      outbox.ack(lease.leaseId);
      outbox.flush();
      assert.equal(outbox.stats().pendingReserved, 0);
    });

    it('calls onCommit with the committed seq, and stops after unsubscribe', () => {
      const seen: number[] = [];
      const off = outbox.onCommit((seq) => seen.push(seq));
      const seq = outbox.append(reading('a', 1));
      assert.deepEqual(seen, []);
      outbox.flush();
      assert.deepEqual(seen, [seq]);
      assert.equal(outbox.stats().committedSeq, seq);
      assert.equal(outbox.stats().lastSeq, seq);
      off();
      outbox.append(reading('a', 2));
      outbox.flush();
      assert.deepEqual(seen, [seq]);
    });

    it('commits by itself within commitInterval', async () => {
      const committed = new Promise<number>((resolve) => outbox.onCommit(resolve));
      const seq = outbox.append(reading('a', 1));
      assert.equal(await committed, seq);
    });

    it('commits as soon as commitBatch readings are buffered', () => {
      outbox.close();
      outbox = harness.open({ commitBatch: 5, commitInterval: 10_000 });
      const seen: number[] = [];
      outbox.onCommit((seq) => seen.push(seq));
      const seqs = [1, 2, 3, 4, 5].map((n) => outbox.append(reading('a', n)));
      assert.deepEqual(seen, [seqs[4]]);
    });

    it('purges by sensor and by age, counting what it dropped', () => {
      outbox.append(reading('a', 1, 1_000));
      outbox.append(reading('b', 2, 1_000));
      outbox.append(reading('a', 3, 5_000));
      outbox.append(reading('b', 4, 5_000));
      assert.equal(outbox.purge({}), 0);
      assert.equal(outbox.purge({ sensorId: 'a' }), 2);
      assert.equal(outbox.purge({ olderThan: 2_000 }), 1);
      assert.deepEqual(outbox.stats().dropped, { a: 2, b: 1 });
      assert.deepEqual(outbox.lease({ max: 10, from: 'oldest' })!.entries.map((e) => e.values.n), [4]);
    });

    it('counts drops recorded by others per sensor', () => {
      outbox.recordDropped('a', 2, 'too large for the cloud');
      outbox.recordDropped('a', 1, 'too large for the cloud');
      outbox.recordDropped('b', 0, 'nothing');
      assert.deepEqual(outbox.stats().dropped, { a: 3 });
    });

    it('reports pending, oldestTs and maxBytes', () => {
      assert.equal(outbox.stats().oldestTs, null);
      outbox.append(reading('a', 1, 4242));
      outbox.append(reading('a', 2, 4343));
      outbox.flush();
      const stats = outbox.stats();
      assert.equal(stats.pending, 2);
      assert.equal(stats.oldestTs, 4242);
      assert.ok(stats.maxBytes > 0);
      assert.equal(stats.diskFull, false);
    });

    it('close() commits what is buffered; a durable outbox keeps it, unacked leases included, seq going on', { skip: !durable }, () => {
      for (let n = 1; n <= 3; n++) outbox.append(reading('a', n));
      outbox.flush();
      const lease = outbox.lease({ max: 2, from: 'oldest' })!;
      const last = outbox.append(reading('a', 4));
      outbox.appendReserved({ reply: 1 });
      outbox.close();
      outbox = harness.open();
      assert.equal(outbox.stats().pending, 4, 'leased but unacked readings are redelivered after a restart');
      assert.equal(outbox.stats().pendingReserved, 1);
      const again = outbox.lease({ max: 10, from: 'oldest' })!;
      assert.deepEqual(again.entries.filter((e) => e.lane === 'telemetry').map((e) => e.id).slice(0, 2), lease.entries.map((e) => e.id), 'same ids: the cloud can deduplicate');
      assert.ok(outbox.append(reading('a', 5)) > last + 1, 'seq never goes back');
    });

    it('ack, close, reopen: acked readings are gone and seq keeps increasing', { skip: !durable }, () => {
      for (let n = 1; n <= 3; n++) outbox.append(reading('a', n));
      outbox.flush();
      outbox.ack(outbox.lease({ max: 10, from: 'oldest' })!.leaseId);
      outbox.close();
      outbox = harness.open();
      assert.equal(outbox.stats().pending, 0);
      assert.ok(outbox.append(reading('a', 4)) > 3, 'ids are never reused');
    });
  });
}
