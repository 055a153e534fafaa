import { AgentError } from '../errors.ts';

/**
 * Thrown by an adapter's connectOptions() when the system clock is evidently wrong: a token or
 * signature minted now would be refused (or worse, accepted with a wrong expiry). The session
 * waits and tries again, and status shows "waiting-for-clock".
 */
export class ClockNotSynchronizedError extends AgentError {
  constructor(now: number) {
    super(`the system clock reads ${new Date(now).toISOString()}, earlier than this agent's build: waiting for time synchronization (NTP) before signing in; check 'timedatectl' and network time`);
  }
}

/**
 * Thrown by connectOptions() when credentials cannot be had yet (e.g. device registration failed).
 * The session retries after retryAfterMs rather than its own backoff (Xyte asks for 10-30 min).
 */
export class CredentialsUnavailableError extends AgentError {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super(message, 1, options);
    this.retryAfterMs = retryAfterMs;
  }
}
