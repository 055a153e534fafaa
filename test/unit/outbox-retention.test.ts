// Pure parts of the outbox: how much retention drops, and which seq ranges are free to lease.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LeaseRanges } from '../../src/outbox/lease-ranges.ts';
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
    assert.equal(ranges.contains(15), true);
    assert.equal(ranges.contains(7), false);
    ranges.remove({ lo: 11, hi: 20 });
    assert.deepEqual(ranges.gaps('oldest')[0], { lo: 5, hi: 21 });
    ranges.remove({ lo: 99, hi: 100 });
    assert.equal(ranges.size, 2);
  });
});
