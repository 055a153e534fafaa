// Timers as a value, so the parts that wait (the cloud session's reconnects, backoffs and
// heartbeats) can run on a fake clock in tests: minutes of backoff checked in milliseconds.

export type TimerHandle = { readonly __timer: unique symbol } | NodeJS.Timeout;

export interface Timers {
  now: () => number;
  /** `unref`: the timer alone must not keep the process alive (a commit timer, a retry). */
  setTimeout: (fn: () => void, ms: number, options?: { unref?: boolean }) => TimerHandle;
  clearTimeout: (handle: TimerHandle | undefined) => void;
}

export const systemTimers: Timers = {
  now: Date.now,
  setTimeout: (fn, ms, options) => {
    const timer = setTimeout(fn, ms);
    if (options?.unref) timer.unref();
    return timer;
  },
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout | undefined),
};
