// A gateway without an RTC boots in 1970 (or at its last shutdown) until NTP answers. Timestamps and
// cloud signatures made before then are wrong, so the agent asks this before trusting the clock.
import { BUILD_TIME } from './version.ts';

export function clockSynchronized(now: number = Date.now()): boolean {
  return now >= BUILD_TIME;
}
