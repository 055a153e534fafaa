// The outbox against a model, on real files: thousands of seeded random interleavings of appends,
// leases from either end, acks, nacks, commits, bursts that spill to SQLite, clean restarts and
// crashes. Whatever the order, a reading is never out on two leases at once, never leased again
// after its ack (until a crash may forget the last acks), and every reading is delivered in the
// end unless a crash took it before its commit. A failing seed reproduces the same run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Outbox } from '../../src/outbox/outbox.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { open, tempDataDir } from '../helpers/outbox-files.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

// Small enough that a run crosses every path: bursts (commitBatch), a full journal (64 KB at this maxBytes).
const CONFIG = { commitBatch: 40, commitInterval: '100ms', maxBytes: '1MB', reservedBytes: '64KB' };
const STEPS = 1500;

interface Incarnation {
  outbox: Outbox;
  clock: FakeClock;
}

async function runModel(seed: number, dataDir: string): Promise<{ appended: number; crashes: number; restarts: number }> {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const start = (): Incarnation => {
    // Each incarnation has its own clock: a crashed one's timers never fire again.
    const clock = new FakeClock(Date.UTC(2026, 10, 27) + pick(1000));
    return { outbox: open(dataDir, CONFIG, { timers: clock }), clock };
  };
  let current = start();
  const appended = new Set<number>();
  const delivered = new Set<number>();
  /** Readings a crash may have taken: appended after the last commit and not delivered. */
  const mayBeLost = new Set<number>();
  /** Acked since the last crash: never leased again. */
  const ackedThisRun = new Set<number>();
  const outstanding = new Map<number, number[]>();
  let crashes = 0;
  let restarts = 0;
  const leasedNow = () => new Set([...outstanding.values()].flat());

  const takeLease = (max: number, from: 'oldest' | 'newest', minLive: number) => {
    const lease = current.outbox.lease({ max, from, minLive });
    if (!lease) return;
    const seqs = lease.entries.map((e) => e.seq);
    const busy = leasedNow();
    for (const seq of seqs) {
      assert.ok(appended.has(seq), `seed ${seed}: leased seq ${seq}, which was never appended`);
      assert.ok(!busy.has(seq), `seed ${seed}: seq ${seq} is out on two leases at once`);
      assert.ok(!ackedThisRun.has(seq), `seed ${seed}: seq ${seq} leased again after its ack`);
    }
    assert.equal(new Set(seqs).size, seqs.length, `seed ${seed}: a lease holds a seq twice`);
    assert.ok(seqs.length <= max, `seed ${seed}: lease larger than asked`);
    outstanding.set(lease.leaseId, seqs);
  };
  const settle = (ack: boolean) => {
    const ids = [...outstanding.keys()];
    if (ids.length === 0) return;
    const leaseId = ids[pick(ids.length)]!;
    const seqs = outstanding.get(leaseId)!;
    outstanding.delete(leaseId);
    if (ack) {
      current.outbox.ack(leaseId);
      for (const seq of seqs) {
        delivered.add(seq);
        ackedThisRun.add(seq);
      }
    } else current.outbox.nack(leaseId);
  };

  for (let step = 0; step < STEPS; step++) {
    const roll = random();
    if (roll < 0.3) {
      // Mostly a few readings; sometimes a burst beyond commitBatch (a backlog arriving at once).
      const count = random() < 0.1 ? 40 + pick(200) : 1 + pick(8);
      for (let i = 0; i < count; i++) {
        const seq = random() < 0.03 ? current.outbox.appendReserved({ reply: step }) : current.outbox.append({ sensorId: `s${pick(3)}`, ts: current.clock.now(), values: { v: step, i } });
        assert.ok(!appended.has(seq), `seed ${seed}: seq ${seq} given twice`);
        appended.add(seq);
      }
    } else if (roll < 0.5) takeLease(1 + pick(120), random() < 0.7 ? 'oldest' : 'newest', random() < 0.3 ? 50 : 1);
    else if (roll < 0.68) settle(true);
    else if (roll < 0.74) settle(false);
    else if (roll < 0.9) await current.clock.advance(pick(250));
    else if (roll < 0.95) current.outbox.flush();
    else if (roll < 0.975) {
      // A clean restart: leases end with the process.
      current.outbox.close();
      outstanding.clear();
      current = start();
      restarts++;
    } else {
      // kill -9: nothing more is written; what was not committed and not delivered may be gone.
      const { committedSeq } = current.outbox.stats();
      for (const seq of appended) if (seq > committedSeq && !delivered.has(seq)) mayBeLost.add(seq);
      outstanding.clear();
      ackedThisRun.clear();
      current = start();
      crashes++;
    }
  }

  // The link comes back for good: everything left is delivered, from a clean restart.
  current.outbox.close();
  current = start();
  outstanding.clear();
  for (let rounds = 0; ; rounds++) {
    assert.ok(rounds < 100_000, `seed ${seed}: the drain does not end`);
    const lease = current.outbox.lease({ max: 500, from: rounds % 4 === 3 ? 'newest' : 'oldest' });
    if (!lease) break;
    current.outbox.ack(lease.leaseId);
    for (const entry of lease.entries) delivered.add(entry.seq);
  }
  const missing = [...appended].filter((seq) => !delivered.has(seq) && !mayBeLost.has(seq));
  assert.deepEqual(missing.slice(0, 20), [], `seed ${seed}: ${missing.length} readings never delivered (first ones shown)`);
  const stats = current.outbox.stats();
  assert.equal(stats.pending, 0, `seed ${seed}: pending after the drain`);
  assert.equal(stats.pendingReserved, 0, `seed ${seed}: reserved pending after the drain`);
  current.outbox.close();
  return { appended: appended.size, crashes, restarts };
}

describe('outbox against a model', () => {
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}: nothing lost, nothing on two leases, nothing re-leased after its ack`, async (t) => {
      const run = await runModel(seed, tempDataDir(t));
      assert.ok(run.appended > 1000, `the run appended only ${run.appended} readings`);
    });
  }
});
