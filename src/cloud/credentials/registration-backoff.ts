// The one backoff for device registrations, whatever the cloud: exponential from minMs, capped at
// maxMs, with optional jitter so a fleet restarted together spreads out. Each cloud gives its bounds
// (Xyte asks for 10-30 min, dev.xyte.io "Register device"; Alibaba 30 s to 30 min).

export interface RegistrationBackoff {
  minMs: number;
  maxMs: number;
  /** ±this fraction of each delay, still within [minMs, maxMs]; 0 for none. */
  jitter: number;
}

export function registrationRetryDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random, jitter = 0.2): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
  const spread = jitter === 0 ? 1 : 1 - jitter + 2 * jitter * random();
  return Math.round(Math.min(maxMs, Math.max(minMs, base * spread)));
}

export function formatDelay(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
