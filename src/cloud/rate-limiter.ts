/** A token bucket: `rate` tokens per second, holding at most one second's worth. */
export class TokenBucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #updatedAt: number;
  readonly #now: () => number;

  constructor(ratePerSecond: number, now: () => number = Date.now) {
    this.#rate = ratePerSecond;
    this.#capacity = Math.max(1, ratePerSecond);
    this.#tokens = this.#capacity;
    this.#now = now;
    this.#updatedAt = now();
  }

  /** Whole tokens available now. */
  available(): number {
    const now = this.#now();
    this.#tokens = Math.min(this.#capacity, this.#tokens + ((now - this.#updatedAt) / 1000) * this.#rate);
    this.#updatedAt = now;
    return Math.floor(this.#tokens);
  }

  take(count: number): void {
    this.#tokens -= count;
  }

  /** Milliseconds until at least one token is available. */
  waitMs(): number {
    const missing = 1 - this.#tokens;
    return missing <= 0 ? 0 : Math.ceil((missing / this.#rate) * 1000);
  }
}

/** Readings per second over a sliding window, for status and health. */
export class RateMeter {
  readonly #windowMs: number;
  readonly #buckets: number[];
  readonly #bucketMs: number;
  #bucketStart: number;
  #index = 0;
  readonly #now: () => number;

  constructor(windowMs = 60_000, buckets = 12, now: () => number = Date.now) {
    this.#windowMs = windowMs;
    this.#buckets = new Array<number>(buckets).fill(0);
    this.#bucketMs = windowMs / buckets;
    this.#now = now;
    this.#bucketStart = now();
  }

  add(count: number): void {
    this.#advance();
    this.#buckets[this.#index]! += count;
  }

  perSecond(): number {
    this.#advance();
    return this.#buckets.reduce((a, b) => a + b, 0) / (this.#windowMs / 1000);
  }

  #advance(): void {
    const now = this.#now();
    let steps = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (steps <= 0) return;
    steps = Math.min(steps, this.#buckets.length);
    for (let i = 0; i < steps; i++) {
      this.#index = (this.#index + 1) % this.#buckets.length;
      this.#buckets[this.#index] = 0;
    }
    this.#bucketStart = now;
  }
}
