// What the session knows of its link, for status, /health and /metrics: one owner, written by the
// session (state, errors, reconnects) and its publisher (messages, bytes, refusals). The readings
// those messages held are the forwarder's to count.
import type { LinkState, SessionStatus } from '../status/snapshot.ts';

export class LinkStatusRecorder {
  readonly #now: () => number;
  readonly #status: SessionStatus;

  constructor(provider: string, now: () => number) {
    this.#now = now;
    this.#status = {
      provider,
      endpoint: '',
      state: 'stopped',
      since: now(),
      lastConnectedAt: null,
      reconnects: 0,
      nextAttemptAt: null,
      lastError: null,
      lastErrorAt: null,
      inFlight: 0,
      publishedMessages: 0,
      bytesSent: 0,
      refusedMessages: 0,
      refusing: null,
    };
  }

  get state(): LinkState {
    return this.#status.state;
  }

  snapshot(inFlight: number): SessionStatus {
    return { ...this.#status, inFlight };
  }

  /** `since` tells how long the link has been up, or down: retries while down do not restart it. */
  setState(state: LinkState): void {
    if (this.#status.state === state) return;
    const upChanged = (this.#status.state === 'connected') !== (state === 'connected');
    this.#status.state = state;
    if (upChanged || state === 'stopped') this.#status.since = this.#now();
  }

  setEndpoint(endpoint: string): void {
    this.#status.endpoint = endpoint;
  }

  get endpoint(): string {
    return this.#status.endpoint;
  }

  setNextAttempt(at: number | null): void {
    this.#status.nextAttemptAt = at;
  }

  connectedAt(at: number): void {
    if (this.#status.lastConnectedAt !== null) this.#status.reconnects++;
    this.#status.lastConnectedAt = at;
    this.setState('connected');
  }

  error(message: string): void {
    this.#status.lastError = message;
    this.#status.lastErrorAt = this.#now();
  }

  published(bytes: number): void {
    this.#status.refusing = null;
    this.#status.publishedMessages++;
    this.#status.bytesSent += bytes;
  }

  refused(reason: string): void {
    this.#status.refusedMessages++;
    this.#status.refusing = reason;
    this.error(reason);
  }
}
