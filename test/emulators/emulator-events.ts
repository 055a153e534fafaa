// How an emulator lets a test wait for what it has seen: the emulator calls notify() after each
// event it records, and waitFor() re-checks the test's condition then, with no polling. A wait that
// times out says what it waited for and what the emulator refused or found broken by then.

export interface EmulatorEvents {
  notify: () => void;
  waitFor: (check: () => boolean, timeoutMs?: number, what?: string) => Promise<void>;
}

export function emulatorEvents(stateAtDeadline: () => string): EmulatorEvents {
  const listeners = new Set<() => void>();
  return {
    notify: () => listeners.forEach((listener) => listener()),
    waitFor: (check, timeoutMs = 15_000, what = 'a condition') => {
      if (check()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`timed out waiting for ${what}; ${stateAtDeadline()}`));
        }, timeoutMs);
        const listener = () => {
          if (!check()) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve();
        };
        listeners.add(listener);
      });
    },
  };
}
