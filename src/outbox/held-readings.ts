// Readings kept in memory while the outbox cannot store them, with a bound: past it the whenFull
// policy drops (the oldest held, or the new reading) and the caller counts the drops per sensor.
import type { Reading } from '../sources/reading.ts';
import type { OutboxConfig } from './config.ts';

/** Readings held while the disk refuses writes or the file cannot be opened: about 2–3 MB of heap at most. */
export function heldReadingsLimit(config: OutboxConfig): number {
  return Math.max(10_000, config.commitBatch * 4);
}

export type DropReport = (bySensor: Map<string, number>) => void;

export class HeldReadings {
  #readings: Reading[] = [];
  readonly #limit: number;
  readonly #policy: OutboxConfig['whenFull'];
  readonly #onDrop: DropReport;

  constructor(limit: number, policy: OutboxConfig['whenFull'], onDrop: DropReport) {
    this.#limit = limit;
    this.#policy = policy;
    this.#onDrop = onDrop;
  }

  get size(): number {
    return this.#readings.length;
  }

  push(reading: Reading): void {
    if (this.#readings.length < this.#limit) {
      this.#readings.push(reading);
      return;
    }
    if (this.#policy === 'drop-newest') {
      this.#onDrop(new Map([[reading.sensorId, 1]]));
      return;
    }
    // A tenth of the bound at once, so the splice is not paid on every reading.
    this.#onDrop(countBySensor(this.#readings.splice(0, Math.ceil(this.#limit / 10))));
    this.#readings.push(reading);
  }

  /** Removes the held readings matching the filter (the outbox.purge command); returns them counted by sensor. */
  purge(filter: { sensorId?: string; olderThan?: number }): Map<string, number> {
    const matches = (r: Reading) => (filter.sensorId === undefined || r.sensorId === filter.sensorId) && (filter.olderThan === undefined || r.ts < filter.olderThan);
    if (filter.sensorId === undefined && filter.olderThan === undefined) return new Map();
    const purged = this.#readings.filter(matches);
    this.#readings = this.#readings.filter((r) => !matches(r));
    return countBySensor(purged);
  }

  takeAll(): Reading[] {
    const all = this.#readings;
    this.#readings = [];
    return all;
  }
}

function countBySensor(readings: Reading[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const r of readings) counts.set(r.sensorId, (counts.get(r.sensorId) ?? 0) + 1);
  return counts;
}
