import { AgentError } from '../../errors.ts';

/** Why a device registration failed: unreachable and server are worth retrying as they are; the rest need a fix. */
export type RegistrationRefusal = 'duplicate' | 'unauthorized' | 'invalid' | 'server' | 'unreachable';

/**
 * Thrown by a credentials part's register(): the cloud refused the registration or could not be
 * reached. The seam retries it with the shared backoff; `edge-agent register` exits 69 (unreachable,
 * server) or 78 (the config needs a fix).
 */
export class RegistrationError extends AgentError {
  readonly refusal: RegistrationRefusal;
  readonly httpStatus: number | undefined;
  constructor(message: string, refusal: RegistrationRefusal, httpStatus?: number, options?: ErrorOptions) {
    super(message, 1, options);
    this.refusal = refusal;
    this.httpStatus = httpStatus;
  }
}

/** The refusal an HTTP status means, for registration endpoints that answer with plain statuses. */
export function refusalOfStatus(status: number): RegistrationRefusal {
  return status === 409 ? 'duplicate' : status === 401 || status === 403 ? 'unauthorized' : status >= 400 && status < 500 ? 'invalid' : 'server';
}
