// What the status page shows over time: the outbox depth every 30 s for the last hour (the chart),
// and each sensor's reading rate over the last interval. One snapshot every 30 s, looked at or not:
// a few hundred bytes and no I/O.
import type { StatusSnapshot } from '../status/snapshot.ts';

export const HISTORY_INTERVAL_MS = 30_000;
/** An hour of points. */
const TREND_POINTS = 120;

export class PageHistory {
  readonly #trend: { t: number; pending: number }[] = [];
  readonly #counts = new Map<string, { readings: number; at: number }>();
  readonly #rates = new Map<string, number>();

  record(snapshot: StatusSnapshot): void {
    this.#trend.push({ t: snapshot.now, pending: snapshot.outbox.pending });
    if (this.#trend.length > TREND_POINTS) this.#trend.shift();
    for (const [id, sensor] of Object.entries(snapshot.sensors)) {
      const before = this.#counts.get(id) ?? { readings: 0, at: snapshot.startedAt };
      const seconds = (snapshot.now - before.at) / 1000;
      if (seconds > 0) this.#rates.set(id, Math.max(0, sensor.readings - before.readings) / seconds);
      this.#counts.set(id, { readings: sensor.readings, at: snapshot.now });
    }
  }

  trend(): { t: number; pending: number }[] {
    return [...this.#trend];
  }

  /** Readings per second over the last interval; since start until the first one has passed. */
  rates(snapshot: StatusSnapshot): ReadonlyMap<string, number> {
    if (this.#counts.size > 0) return this.#rates;
    const seconds = Math.max(1, (snapshot.now - snapshot.startedAt) / 1000);
    return new Map(Object.entries(snapshot.sensors).map(([id, s]) => [id, s.readings / seconds]));
  }
}
