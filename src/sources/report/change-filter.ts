// "mode": "change": a reading is reported when a value moved by more than its deadband since the
// last reported reading, when any other value changed at all (strings, booleans, a number that
// became null), when a field appeared or disappeared (a sensor error must never hide behind a
// deadband), and at least every heartbeat. A reported reading goes whole, so the cloud always
// sees a consistent record; the state kept is that one reading's values.
//
// Deadbands in the sense of OPC UA's DataChangeFilter (absolute, or percent), compared with the
// last reported value rather than the last read one, so a slow drift is reported once it adds up:
// https://reference.opcfoundation.org/Core/Part4/v105/docs/7.22.2
import type { FieldValue } from '../reading.ts';
import type { Deadband, ReportConfig } from './report-config.ts';

const ANY_CHANGE: Deadband = { kind: 'absolute', value: 0 };

export class ChangeFilter {
  readonly #deadband: Deadband;
  readonly #fieldDeadbands: Map<string, Deadband>;
  readonly #ignored: Set<string>;
  readonly #heartbeatMs: number | undefined;
  /** Elapsed-time clock (monotonic): a wall clock stepped by NTP must not stop the heartbeat. */
  readonly #now: () => number;
  #last: Record<string, FieldValue> | undefined;
  #lastAt = 0;

  constructor(config: ReportConfig, heartbeatMs: number | undefined, now: () => number) {
    this.#deadband = config.deadband ?? ANY_CHANGE;
    this.#fieldDeadbands = new Map();
    this.#ignored = new Set();
    for (const [name, field] of Object.entries(config.fields ?? {})) {
      if (field.deadband) this.#fieldDeadbands.set(name, field.deadband);
      if (field.ignore) this.#ignored.add(name);
    }
    this.#heartbeatMs = heartbeatMs;
    this.#now = now;
  }

  /** Whether these values are to be reported; if so they become the reference for the next ones. */
  admit(values: Record<string, FieldValue>): boolean {
    const now = this.#now();
    const last = this.#last;
    const due = last === undefined || (this.#heartbeatMs !== undefined && now - this.#lastAt >= this.#heartbeatMs) || this.#changed(last, values);
    if (due) {
      this.#last = values;
      this.#lastAt = now;
    }
    return due;
  }

  #changed(last: Record<string, FieldValue>, values: Record<string, FieldValue>): boolean {
    let fields = 0;
    for (const name in values) {
      fields++;
      if (!(name in last)) return true;
      if (this.#ignored.has(name)) continue;
      if (moved(last[name]!, values[name]!, this.#fieldDeadbands.get(name) ?? this.#deadband)) return true;
    }
    // Same count and every one of them was in `last`: none disappeared.
    let lastFields = 0;
    for (const _ in last) lastFields++;
    return fields !== lastFields;
  }
}

function moved(before: FieldValue, after: FieldValue, deadband: Deadband): boolean {
  if (typeof before !== 'number' || typeof after !== 'number') return before !== after;
  if (deadband.value === 0) return before !== after;
  const limit = deadband.kind === 'absolute' ? deadband.value : (Math.abs(before) * deadband.value) / 100;
  return Math.abs(after - before) > limit;
}
