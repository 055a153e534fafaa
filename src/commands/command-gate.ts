// How many incoming commands the agent takes on. Anyone who can publish to the commands topic can
// send thousands a second; each one answered is a reply queued in mqtt.js (or the outbox's
// reserved lane) and a few log lines. So: up to `perSecond` commands are run (with a burst), as
// many again are answered 429, and the rest are dropped without a word, only counted. Replies
// then never exceed twice the rate, however fast the flood.

export interface CommandRate {
  perSecond: number;
  burst: number;
}

export type Admission = 'run' | 'refuse' | 'drop';

/** A token bucket with its own burst (src/cloud/rate-limiter.ts holds exactly one second's worth). */
class Bucket {
  readonly #rate: number;
  readonly #capacity: number;
  #tokens: number;
  #updatedAt: number;

  constructor(rate: CommandRate, now: number) {
    this.#rate = rate.perSecond;
    this.#capacity = Math.max(1, rate.burst);
    this.#tokens = this.#capacity;
    this.#updatedAt = now;
  }

  take(now: number): boolean {
    this.#tokens = Math.min(this.#capacity, this.#tokens + (Math.max(0, now - this.#updatedAt) / 1000) * this.#rate);
    this.#updatedAt = now;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

export class CommandGate {
  readonly #run: Bucket;
  readonly #refuse: Bucket;
  #dropped = 0;

  constructor(rate: CommandRate, now: number) {
    this.#run = new Bucket(rate, now);
    this.#refuse = new Bucket(rate, now);
  }

  admit(now: number): Admission {
    if (this.#run.take(now)) return 'run';
    if (this.#refuse.take(now)) return 'refuse';
    this.#dropped++;
    return 'drop';
  }

  dropped(): number {
    return this.#dropped;
  }
}
