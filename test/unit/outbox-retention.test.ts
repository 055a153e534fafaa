// Pure parts of the outbox: how much retention drops, and which seq ranges are free to lease.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { intersectAll, LeaseRanges, MergedRanges } from '../../src/outbox/lease-ranges.ts';
import { reservedBudget, rowsToDrop, telemetryBudget } from '../../src/outbox/retention.ts';

const MB = 1024 * 1024;

describe('retention budgets', () => {
  it('carves the reserved lane out of maxBytes, at most half of it', () => {
    assert.equal(reservedBudget({ maxBytes: 256 * MB, reservedBytes: 4 * MB }), 4 * MB);
    assert.equal(telemetryBudget({ maxBytes: 256 * MB, reservedBytes: 4 * MB }), 252 * MB);
    assert.equal(reservedBudget({ maxBytes: 1 * MB, reservedBytes: 4 * MB }), 0.5 * MB);
    assert.equal(telemetryBudget({ maxBytes: 1 * MB, reservedBytes: 4 * MB }), 0.5 * MB);
  });

  it('drops nothing within the budget', () => {
    assert.equal(rowsToDrop({ usedBytes: 100, budget: 100, rows: 10, policy: 'drop-oldest' }), 0);
    assert.equal(rowsToDrop({ usedBytes: 200, budget: 100, rows: 0, policy: 'drop-oldest' }), 0);
  });

  it('drop-oldest frees 1% below the budget; drop-newest trims to it exactly', () => {
    // 1000 rows of 100 bytes, 10 rows over a budget of 99,000 bytes.
    assert.equal(rowsToDrop({ usedBytes: 100_000, budget: 99_000, rows: 1000, policy: 'drop-newest' }), 10);
    assert.equal(rowsToDrop({ usedBytes: 100_000, budget: 99_000, rows: 1000, policy: 'drop-oldest' }), 20);
    assert.equal(rowsToDrop({ usedBytes: 10_000_000, budget: 1, rows: 5, policy: 'drop-oldest' }), 5, 'never more than there is');
  });
});

describe('LeaseRanges', () => {
  it('lists the unleased gaps as open intervals from either end', () => {
    const ranges = new LeaseRanges();
    assert.deepEqual(ranges.gaps('oldest'), [{ lo: 0, hi: Number.MAX_SAFE_INTEGER }]);
    ranges.add({ lo: 11, hi: 20 });
    ranges.add({ lo: 1, hi: 5 });
    ranges.add({ lo: 21, hi: 30 });
    assert.deepEqual(ranges.gaps('oldest'), [
      { lo: 5, hi: 11 },
      { lo: 30, hi: Number.MAX_SAFE_INTEGER },
    ]);
    assert.deepEqual(ranges.gaps('newest')[0], { lo: 30, hi: Number.MAX_SAFE_INTEGER });
    ranges.remove({ lo: 11, hi: 20 });
    assert.deepEqual(ranges.gaps('oldest')[0], { lo: 5, hi: 21 });
    ranges.remove({ lo: 99, hi: 100 });
    assert.equal(ranges.size, 2);
  });
});

describe('MergedRanges and intersectAll', () => {
  it('merges adjacent and overlapping ranges, and answers whether a seq is covered', () => {
    const acked = new MergedRanges();
    for (const range of [{ lo: 11, hi: 20 }, { lo: 1, hi: 5 }, { lo: 21, hi: 25 }, { lo: 4, hi: 8 }]) acked.add(range);
    assert.deepEqual(acked.list, [
      { lo: 1, hi: 8 },
      { lo: 11, hi: 25 },
    ]);
    assert.deepEqual([0, 1, 8, 9, 10, 11, 25, 26].map((seq) => acked.contains(seq)), [false, true, true, false, false, true, true, false]);
  });

  it('finds the seqs every destination acknowledged', () => {
    const a = [{ lo: 1, hi: 10 }, { lo: 20, hi: 30 }];
    const b = [{ lo: 5, hi: 25 }];
    const c = [{ lo: 1, hi: 100 }];
    assert.deepEqual(intersectAll([a, b, c]), [
      { lo: 5, hi: 10 },
      { lo: 20, hi: 25 },
    ]);
    assert.deepEqual(intersectAll([a, []]), []);
    assert.deepEqual(intersectAll([a]), a);
  });
});
