import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fullJitterDelay } from '../../src/cloud/backoff.ts';
import { RateMeter, TokenBucket } from '../../src/cloud/rate-limiter.ts';

describe('full-jitter backoff', () => {
  it('grows exponentially up to the cap and never beyond', () => {
    const top = (attempt: number) => fullJitterDelay(attempt, 1000, 60_000, () => 0.999999);
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 20].map(top), [999, 1999, 3999, 7999, 15999, 31999, 59999, 59999, 59999]);
  });
  it('spreads delays between 0 and the ceiling', () => {
    assert.equal(fullJitterDelay(3, 1000, 60_000, () => 0), 0);
    assert.equal(fullJitterDelay(3, 1000, 60_000, () => 0.5), 4000);
  });
  it('does not overflow for huge attempt counts', () => {
    assert.equal(fullJitterDelay(10_000, 1000, 60_000, () => 0.5), 30_000);
  });
});

describe('token bucket', () => {
  it('allows the rate per second and refills with time', () => {
    let now = 0;
    const bucket = new TokenBucket(100, () => now);
    assert.equal(bucket.available(), 100);
    bucket.take(100);
    assert.equal(bucket.available(), 0);
    assert.equal(bucket.waitMs(), 10);
    now += 500;
    assert.equal(bucket.available(), 50);
    now += 10_000;
    assert.equal(bucket.available(), 100, 'holds at most one second of tokens');
  });
});

describe('rate meter', () => {
  it('averages over its window', () => {
    let now = 0;
    const meter = new RateMeter(10_000, 10, () => now);
    meter.add(50);
    now += 5000;
    meter.add(50);
    assert.equal(meter.perSecond(), 10);
    now += 20_000;
    assert.equal(meter.perSecond(), 0);
  });
});
