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

/** MQTT 5 reason codes a broker puts in a PUBACK to refuse a publish, in words for a technician. */
const PUBACK_REFUSALS: Record<number, string> = {
  0x80: 'unspecified error',
  0x83: 'implementation specific error',
  0x87: 'not authorized (check the topic and the permissions of these credentials)',
  0x90: 'topic name invalid',
  0x91: 'packet identifier in use',
  0x97: 'quota exceeded',
  0x99: 'payload format invalid',
};

/**
 * The cloud took a publish and refused it (MQTT 5 PUBACK reason code 0x80 or above). The readings
 * stay in the outbox: the forwarder backs off and sends them again, it never drops them for this.
 */
export class PublishRefusedError extends Error {
  readonly reasonCode: number;
  readonly topic: string;
  constructor(topic: string, reasonCode: number) {
    super(`the cloud refused a publish on ${topic}: ${PUBACK_REFUSALS[reasonCode] ?? 'refused'} (reason code 0x${reasonCode.toString(16)})`);
    this.name = 'PublishRefusedError';
    this.reasonCode = reasonCode;
    this.topic = topic;
  }
}
