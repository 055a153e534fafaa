// Readings dropped, per sensor: counted in memory for stats(), persisted with the next commit (so
// the counters survive restarts without an fsync of their own), logged at most once a minute per reason.
import { RateLimitedLog, type Logger } from '../log.ts';

export class DropCounter {
  readonly #totals = new Map<string, number>();
  #unsaved = new Map<string, number>();
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #rateLimited: RateLimitedLog;

  constructor(saved: Iterable<{ sensor: string; count: number }>, log: Logger, now: () => number, logWindowMs = 60_000) {
    for (const row of saved) this.#totals.set(row.sensor, row.count);
    this.#log = log;
    this.#now = now;
    this.#rateLimited = new RateLimitedLog(logWindowMs);
  }

  /** Counts drops; `saved` when the caller already wrote them to the drops table in its transaction. */
  add(bySensor: ReadonlyMap<string, number>, reason: string, saved = false): number {
    let total = 0;
    for (const [sensor, n] of bySensor) {
      if (n <= 0) continue;
      total += n;
      this.#totals.set(sensor, (this.#totals.get(sensor) ?? 0) + n);
      if (!saved) this.#unsaved.set(sensor, (this.#unsaved.get(sensor) ?? 0) + n);
    }
    if (total === 0) return 0;
    const suppressed = this.#rateLimited.admit(reason, this.#now());
    if (suppressed >= 0) {
      this.#log.warn({ event: 'outbox-dropped', count: total, reason, bySensor: Object.fromEntries(bySensor), droppedEventsSuppressed: suppressed }, `outbox dropped ${total} readings: ${reason}`);
    }
    return total;
  }

  get hasUnsaved(): boolean {
    return this.#unsaved.size > 0;
  }

  /** Hands the counts not yet on disk to a commit; give them back with restore() if it fails. */
  takeUnsaved(): Map<string, number> {
    const unsaved = this.#unsaved;
    this.#unsaved = new Map();
    return unsaved;
  }

  restore(unsaved: ReadonlyMap<string, number>): void {
    for (const [sensor, n] of unsaved) this.#unsaved.set(sensor, (this.#unsaved.get(sensor) ?? 0) + n);
  }

  snapshot(): Record<string, number> {
    return Object.fromEntries(this.#totals);
  }
}
