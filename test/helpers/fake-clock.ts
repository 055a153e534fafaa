// A fake clock for timing logic: timers fire in time order when the test advances it, and each
// firing's promise continuations run before the next one, so hours of backoff take milliseconds.
import type { TimerHandle, Timers } from '../../src/timers.ts';

interface Pending {
  at: number;
  order: number;
  fn: () => void;
}

export class FakeClock implements Timers {
  #now: number;
  #order = 0;
  readonly #pending = new Map<number, Pending>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now = (): number => this.#now;

  setTimeout = (fn: () => void, ms: number): TimerHandle => {
    const id = this.#order++;
    this.#pending.set(id, { at: this.#now + Math.max(0, ms), order: id, fn });
    return id as unknown as TimerHandle;
  };

  clearTimeout = (handle: TimerHandle | undefined): void => {
    if (handle !== undefined) this.#pending.delete(handle as unknown as number);
  };

  /** Runs every timer due within `ms`, in order, letting promise chains settle after each. */
  async advance(ms: number): Promise<void> {
    const until = this.#now + ms;
    await settle();
    for (;;) {
      const next = this.#next();
      if (!next || next.at > until) break;
      this.#pending.delete(next.order);
      this.#now = next.at;
      next.fn();
      await settle();
    }
    this.#now = until;
    await settle();
  }

  /** Advances in small steps until `check` holds, or fails after `limitMs` of fake time. */
  async until(check: () => boolean, limitMs: number, what: string, stepMs = 10): Promise<number> {
    const start = this.#now;
    while (!check()) {
      if (this.#now - start > limitMs) throw new Error(`${what} did not happen within ${limitMs} ms of fake time`);
      await this.advance(stepMs);
    }
    return this.#now - start;
  }

  #next(): Pending | undefined {
    let best: Pending | undefined;
    for (const p of this.#pending.values()) if (!best || p.at < best.at || (p.at === best.at && p.order < best.order)) best = p;
    return best;
  }
}

/** Lets queued promise continuations (and the I/O-free callbacks of fakes) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
  await new Promise((resolve) => setImmediate(resolve));
}
