/**
 * Exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter"):
 * a random delay between 0 and min(cap, base * 2^attempt). A fleet of gateways that lost the same
 * cell tower then spreads its reconnects instead of hitting the cloud in one wave.
 */
export function fullJitterDelay(attempt: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** Smallest wait between attempts, so that even an unlucky jitter of 0 never makes a tight loop. */
export const MIN_RECONNECT_DELAY_MS = 250;
