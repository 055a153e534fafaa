// The outbox against a model, on real files: thousands of seeded random interleavings of appends,
// leases from either end, acks, nacks, commits, bursts that spill to SQLite, clean restarts and
// crashes, with one destination and with three (one of them filtered to some sensors). Whatever
// the order, a reading is never out on two leases of one destination at once, never leased again
// to a destination after its ack (until a crash may forget the last acks), never leased to a
// destination that does not want it, and every reading is delivered to every destination that
// wants it in the end, unless a crash took it before its commit. A failing seed reproduces the run.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Outbox } from '../../src/outbox/outbox.ts';
import type { OutboxDestination } from '../../src/outbox/sqlite-outbox.ts';
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

async function runModel(seed: number, dataDir: string, destinations: OutboxDestination[]): Promise<{ appended: number; crashes: number; restarts: number }> {
  const random = seededRandom(seed);
  const pick = (n: number) => Math.floor(random() * n);
  const start = (): Incarnation => {
    // Each incarnation has its own clock: a crashed one's timers never fire again.
    const clock = new FakeClock(Date.UTC(2026, 10, 27) + pick(1000));
    return { outbox: open(dataDir, CONFIG, { timers: clock, destinations }), clock };
  };
  let current = start();
  const ids = destinations.map((d) => d.id);
  const perDest = <T>(make: () => T) => new Map(ids.map((id) => [id, make()]));
  /** seq -> the destinations that should get it (a reading: those that want its sensor; a reply: its own). */
  const appended = new Map<number, string[]>();
  const sensorOf = new Map<number, string>();
  const delivered = perDest(() => new Set<number>());
  /** Per destination, what a crash may have taken: appended after the last commit and not delivered there. */
  const mayBeLost = perDest(() => new Set<number>());
  /** Acked since the last crash: never leased again to that destination. */
  const ackedThisRun = perDest(() => new Set<number>());
  const outstanding = new Map<number, { dest: string; seqs: number[] }>();
  let crashes = 0;
  let restarts = 0;
  const leasedNow = (dest: string) => new Set([...outstanding.values()].filter((l) => l.dest === dest).flatMap((l) => l.seqs));

  const takeLease = (max: number, from: 'oldest' | 'newest', minLive: number) => {
    const dest = ids[pick(ids.length)]!;
    const lease = current.outbox.lease({ max, from, minLive, destination: dest });
    if (!lease) return;
    const seqs = lease.entries.map((e) => e.seq);
    const busy = leasedNow(dest);
    for (const seq of seqs) {
      assert.ok(appended.has(seq), `seed ${seed}: leased seq ${seq}, which was never appended`);
      assert.ok(appended.get(seq)!.includes(dest), `seed ${seed}: seq ${seq} (${sensorOf.get(seq)}) leased to ${dest}, which does not want it`);
      assert.ok(!busy.has(seq), `seed ${seed}: seq ${seq} is out on two leases of ${dest} at once`);
      assert.ok(!ackedThisRun.get(dest)!.has(seq), `seed ${seed}: seq ${seq} leased again to ${dest} after its ack`);
    }
    assert.equal(new Set(seqs).size, seqs.length, `seed ${seed}: a lease holds a seq twice`);
    assert.ok(seqs.length <= max, `seed ${seed}: lease larger than asked`);
    outstanding.set(lease.leaseId, { dest, seqs });
  };
  const settle = (ack: boolean) => {
    const leaseIds = [...outstanding.keys()];
    if (leaseIds.length === 0) return;
    const leaseId = leaseIds[pick(leaseIds.length)]!;
    const { dest, seqs } = outstanding.get(leaseId)!;
    outstanding.delete(leaseId);
    if (ack) {
      current.outbox.ack(leaseId);
      for (const seq of seqs) {
        delivered.get(dest)!.add(seq);
        ackedThisRun.get(dest)!.add(seq);
      }
    } else current.outbox.nack(leaseId);
  };

  for (let step = 0; step < STEPS; step++) {
    const roll = random();
    if (roll < 0.3) {
      // Mostly a few readings; sometimes a burst beyond commitBatch (a backlog arriving at once).
      const count = random() < 0.1 ? 40 + pick(200) : 1 + pick(8);
      for (let i = 0; i < count; i++) {
        let seq: number;
        let wantedBy: string[];
        if (random() < 0.03) {
          const dest = ids[pick(ids.length)]!;
          seq = current.outbox.appendReserved({ reply: step }, dest);
          wantedBy = [dest];
        } else {
          const sensorId = `s${pick(3)}`;
          seq = current.outbox.append({ sensorId, ts: current.clock.now(), values: { v: step, i } });
          sensorOf.set(seq, sensorId);
          wantedBy = destinations.filter((d) => d.wants?.(sensorId) ?? true).map((d) => d.id);
        }
        assert.ok(!appended.has(seq), `seed ${seed}: seq ${seq} given twice`);
        appended.set(seq, wantedBy);
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
      for (const [seq, wantedBy] of appended) for (const dest of wantedBy) if (seq > committedSeq && !delivered.get(dest)!.has(seq)) mayBeLost.get(dest)!.add(seq);
      outstanding.clear();
      for (const set of ackedThisRun.values()) set.clear();
      current = start();
      crashes++;
    }
  }

  // The links come back for good: everything left is delivered, from a clean restart.
  current.outbox.close();
  current = start();
  outstanding.clear();
  for (const dest of ids) {
    for (let rounds = 0; ; rounds++) {
      assert.ok(rounds < 100_000, `seed ${seed}: the drain to ${dest} does not end`);
      const lease = current.outbox.lease({ max: 500, from: rounds % 4 === 3 ? 'newest' : 'oldest', destination: dest });
      if (!lease) break;
      current.outbox.ack(lease.leaseId);
      for (const entry of lease.entries) {
        assert.ok(appended.get(entry.seq)?.includes(dest), `seed ${seed}: seq ${entry.seq} drained to ${dest}, which does not want it`);
        delivered.get(dest)!.add(entry.seq);
      }
    }
    const missing = [...appended].filter(([seq, wantedBy]) => wantedBy.includes(dest) && !delivered.get(dest)!.has(seq) && !mayBeLost.get(dest)!.has(seq)).map(([seq]) => seq);
    assert.deepEqual(missing.slice(0, 20), [], `seed ${seed}: ${missing.length} readings never delivered to ${dest} (first ones shown)`);
  }
  const stats = current.outbox.stats();
  assert.equal(stats.pending, 0, `seed ${seed}: pending after the drain`);
  assert.equal(stats.pendingReserved, 0, `seed ${seed}: reserved pending after the drain`);
  current.outbox.close();
  const reopened = open(dataDir, CONFIG, { destinations });
  assert.equal(reopened.stats().pending, 0, `seed ${seed}: pending after a restart that follows the drain`);
  reopened.close();
  return { appended: appended.size, crashes, restarts };
}

const ONE: OutboxDestination[] = [{ id: 'cloud' }];
// Three destinations, one of them filtered to sensors s0 and s1 (a plant's local broker, say).
const THREE: OutboxDestination[] = [{ id: 'cloud' }, { id: 'scada', wants: (sensor) => sensor !== 's2' }, { id: 'waylay' }];

describe('outbox against a model', () => {
  for (const seed of [1, 2, 3]) {
    it(`seed ${seed}, one destination: nothing lost, nothing on two leases, nothing re-leased after its ack`, async (t) => {
      const run = await runModel(seed, tempDataDir(t), ONE);
      assert.ok(run.appended > 1000, `the run appended only ${run.appended} readings`);
    });
  }
  for (const seed of [11, 12]) {
    it(`seed ${seed}, three destinations, one filtered: each gets what it wants, at least once, and nothing else`, async (t) => {
      const run = await runModel(seed, tempDataDir(t), THREE);
      assert.ok(run.appended > 1000, `the run appended only ${run.appended} readings`);
    });
  }
});
