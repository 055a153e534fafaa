// Waiting in tests is for a condition, with a deadline: the wait ends as soon as what it waits for
// has happened, and a failure names what never did. A fixed sleep only belongs in a test when the
// time itself is part of the scenario (an outage that lasts, a rate that refills), and says so.
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `check` holds, asking it every `pollMs`; rejects with "timed out after N ms waiting
 * for <what>" when `timeoutMs` passes first. `what` may be a function, to describe the state at the
 * deadline (e.g. how many of the expected readings had arrived).
 */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string | (() => string), pollMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await sleep(pollMs);
  }
}
