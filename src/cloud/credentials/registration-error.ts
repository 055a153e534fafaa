import { AgentError } from '../../errors.ts';

/**
 * Why a device registration failed. unreachable, server and throttled are worth retrying as they
 * are; the rest need a fix in the config or in the cloud (unknown: no enrollment or device record
 * for this device; disabled: the cloud has one and refuses it on purpose).
 */
export type RegistrationRefusal = 'duplicate' | 'unauthorized' | 'invalid' | 'unknown' | 'disabled' | 'throttled' | 'server' | 'unreachable';

/**
 * Thrown by a credentials part's register(): the cloud refused the registration or could not be
 * reached. The seam retries it with the shared backoff, never sooner than retryAfterMs when the
 * cloud said when (a 429 with retry-after); `edge-agent register` exits 69 (unreachable, server,
 * throttled) or 78 (the config or the cloud's enrollment needs a fix).
 */
export class RegistrationError extends AgentError {
  readonly refusal: RegistrationRefusal;
  readonly httpStatus: number | undefined;
  readonly retryAfterMs: number | undefined;
  constructor(message: string, refusal: RegistrationRefusal, httpStatus?: number, options?: ErrorOptions & { retryAfterMs?: number }) {
    super(message, 1, options);
    this.refusal = refusal;
    this.httpStatus = httpStatus;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** Worth trying again as it is: the cloud was away, failed or asked to wait. */
export function isTransientRefusal(refusal: RegistrationRefusal): boolean {
  return refusal === 'unreachable' || refusal === 'server' || refusal === 'throttled';
}

/** The refusal an HTTP status means, for registration endpoints that answer with plain statuses. */
export function refusalOfStatus(status: number): RegistrationRefusal {
  return status === 409 ? 'duplicate' : status === 401 || status === 403 ? 'unauthorized' : status === 429 ? 'throttled' : status >= 400 && status < 500 ? 'invalid' : 'server';
}
