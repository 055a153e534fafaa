// "mode": "window": the readings of one window folded into one, with per-field aggregates as
// fields named <field>_<aggregate> (temperature_min, temperature_avg). The state is a few numbers
// per field, however many readings the window holds.
import type { FieldValue } from '../reading.ts';
import { DEFAULT_AGGREGATES, type Aggregate, type ReportConfig } from './report-config.ts';

/** Fields tracked per window, at most: a line sensor inventing a new key per line must not grow memory. */
export const MAX_WINDOW_FIELDS = 256;

interface FieldAccumulator {
  count: number;
  numbers: number;
  nulls: number;
  min: number;
  max: number;
  sum: number;
  first: FieldValue;
  last: FieldValue;
}

/** Where the window holding `ts` starts: on a multiple of its length since the epoch (UTC) when the clock can be trusted, else at `ts`. */
export function windowStart(ts: number, everyMs: number, clockSynchronized: boolean): number {
  return clockSynchronized ? Math.floor(ts / everyMs) * everyMs : ts;
}

export class WindowAccumulator {
  readonly #aggregates: readonly Aggregate[];
  readonly #fieldAggregates: ReadonlyMap<string, readonly Aggregate[]>;
  readonly #fields = new Map<string, FieldAccumulator>();
  #readings = 0;
  #clockUnsynced = false;

  constructor(config: ReportConfig) {
    this.#aggregates = config.aggregates ?? DEFAULT_AGGREGATES;
    this.#fieldAggregates = new Map(Object.entries(config.fields ?? {}).flatMap(([name, field]) => (field.aggregates ? [[name, field.aggregates]] : [])));
  }

  get empty(): boolean {
    return this.#readings === 0;
  }

  add(values: Record<string, FieldValue>, clockUnsynced: boolean): void {
    this.#readings++;
    if (clockUnsynced) this.#clockUnsynced = true;
    for (const name in values) {
      const value = values[name]!;
      let field = this.#fields.get(name);
      if (!field) {
        if (this.#fields.size >= MAX_WINDOW_FIELDS) continue;
        field = { count: 0, numbers: 0, nulls: 0, min: Infinity, max: -Infinity, sum: 0, first: value, last: value };
        this.#fields.set(name, field);
      }
      field.count++;
      field.last = value;
      if (typeof value === 'number') {
        field.numbers++;
        if (value < field.min) field.min = value;
        if (value > field.max) field.max = value;
        field.sum += value;
      } else if (value === null) field.nulls++;
    }
  }

  /** The window's reading values, and whether any reading in it was taken before the clock was set; then starts empty. */
  take(): { values: Record<string, FieldValue>; clockUnsynced: boolean } {
    const values: Record<string, FieldValue> = {};
    for (const [name, field] of this.#fields) {
      const wanted = this.#fieldAggregates.get(name) ?? this.#aggregates;
      let added = 0;
      for (const aggregate of wanted) {
        const value = aggregateOf(field, aggregate);
        if (value === undefined) continue;
        values[`${name}_${aggregate}`] = value;
        added++;
      }
      // A string or boolean field under numeric aggregates still says what it was.
      if (added === 0) values[`${name}_last`] = field.last;
    }
    const clockUnsynced = this.#clockUnsynced;
    this.#fields.clear();
    this.#readings = 0;
    this.#clockUnsynced = false;
    return { values, clockUnsynced };
  }
}

/**
 * undefined: the aggregate does not apply (min of a string). A numeric aggregate of a field that
 * held only nulls in the window is null: the sensor's error shows instead of vanishing.
 */
function aggregateOf(field: FieldAccumulator, aggregate: Aggregate): FieldValue | undefined {
  switch (aggregate) {
    case 'count':
      return field.count;
    case 'first':
      return field.first;
    case 'last':
      return field.last;
    default: {
      if (field.numbers === 0) return field.nulls === field.count ? null : undefined;
      if (aggregate === 'min') return field.min;
      if (aggregate === 'max') return field.max;
      // Twelve significant digits: the sum's float noise (21.300000000000001) costs bytes and means nothing.
      return Number((field.sum / field.numbers).toPrecision(12));
    }
  }
}
