// Between a sensor and the outbox: decides which readings are stored and sent (its `report`
// section), so what is suppressed is never written to flash nor sent. State lives in memory only:
// after a restart (or a config change, which rebuilds the pipeline) each sensor's first reading is
// reported.
import type { Timers, TimerHandle } from '../../timers.ts';
import type { Reading } from '../reading.ts';
import { ChangeFilter } from './change-filter.ts';
import { DEFAULT_HEARTBEAT_MS, type ReportConfig } from './report-config.ts';
import { WindowAccumulator, windowStart } from './window-aggregator.ts';

export interface ReporterOptions {
  sensorId: string;
  /** The sensor's `report` section; undefined: every reading. */
  config: ReportConfig | undefined;
  /** Where reported readings go (the outbox). */
  emit: (reading: Reading) => void;
  /** Wall clock and timers: windows close on wall-clock boundaries. */
  timers: Timers;
  /** A monotonic clock for the heartbeat, which must not stall when NTP steps the wall clock back. */
  elapsed: () => number;
}

export interface Reporter {
  /** A reading as the sensor took it. */
  offer(reading: Reading): void;
  /** The sensor stopped: a window in progress is reported as it stands (nothing measured is thrown away). */
  stop(): void;
  readonly mode: 'every' | 'change' | 'window';
  /** Readings handed on to the outbox. */
  readonly reported: number;
}

export function createReporter(options: ReporterOptions): Reporter {
  const config = options.config;
  if (config?.mode === 'change') return new ChangeReporter(options, config);
  if (config?.mode === 'window') return new WindowReporter(options, config);
  return new EveryReporter(options);
}

class EveryReporter implements Reporter {
  readonly mode = 'every';
  readonly #emit: (reading: Reading) => void;
  reported = 0;

  constructor(options: ReporterOptions) {
    this.#emit = options.emit;
  }

  offer(reading: Reading): void {
    this.reported++;
    this.#emit(reading);
  }

  stop(): void {}
}

class ChangeReporter implements Reporter {
  readonly mode = 'change';
  readonly #emit: (reading: Reading) => void;
  readonly #filter: ChangeFilter;
  reported = 0;

  constructor(options: ReporterOptions, config: ReportConfig) {
    this.#emit = options.emit;
    const heartbeat = config.heartbeat ?? DEFAULT_HEARTBEAT_MS;
    this.#filter = new ChangeFilter(config, heartbeat === 'off' ? undefined : heartbeat, options.elapsed);
  }

  offer(reading: Reading): void {
    if (!this.#filter.admit(reading.values)) return;
    this.reported++;
    this.#emit(reading);
  }

  stop(): void {}
}

class WindowReporter implements Reporter {
  readonly mode = 'window';
  readonly #o: ReporterOptions;
  readonly #everyMs: number;
  readonly #window: WindowAccumulator;
  #start = 0;
  #end: number | undefined;
  #timer: TimerHandle | undefined;
  reported = 0;

  constructor(options: ReporterOptions, config: ReportConfig) {
    this.#o = options;
    this.#everyMs = config.every!;
    this.#window = new WindowAccumulator(config);
  }

  offer(reading: Reading): void {
    // A reading past the window (its timer is late) or before it (the clock was stepped back) starts a new one.
    if (this.#end !== undefined && (reading.ts >= this.#end || reading.ts < this.#start)) this.#close();
    if (this.#end === undefined) {
      this.#start = windowStart(reading.ts, this.#everyMs, reading.clockUnsynced !== true);
      this.#end = this.#start + this.#everyMs;
      const timers = this.#o.timers;
      this.#timer = timers.setTimeout(() => this.#close(), Math.max(0, this.#end - timers.now()), { unref: true });
    }
    this.#window.add(reading.values, reading.clockUnsynced === true);
  }

  stop(): void {
    this.#close();
  }

  #close(): void {
    this.#o.timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#end = undefined;
    if (this.#window.empty) return;
    const { values, clockUnsynced } = this.#window.take();
    this.reported++;
    // Labelled with the window's start, so windows of different sensors line up on the same timestamps.
    this.#o.emit({ sensorId: this.#o.sensorId, ts: this.#start, values, ...(clockUnsynced ? { clockUnsynced: true } : {}) });
  }
}
