// Timers as a value, so the parts that wait (the cloud session's reconnects, backoffs and
// heartbeats) can run on a fake clock in tests: minutes of backoff checked in milliseconds.

export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

export interface Timers {
  now: () => number;
  setTimeout: (fn: () => void, ms: number) => TimerHandle;
  clearTimeout: (handle: TimerHandle | undefined) => void;
}

export const systemTimers: Timers = {
  now: Date.now,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
