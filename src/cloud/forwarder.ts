// Moves readings from the outbox to the cloud: lease a batch, let the adapter encode it, publish
// at QoS 1, and ack the lease only when the cloud acknowledged every message of it. A lease whose
// messages did not all arrive is nacked and sent again (at-least-once; readings carry ids for dedup).
import { RateLimitedLog, type Logger } from '../log.ts';
import type { Lease, Outbox } from '../outbox/outbox.ts';
import type { CloudAdapter, TelemetryRecord } from './adapter.ts';
import { PublishRefusedError } from './errors.ts';
import type { OutgoingMessage } from './message.ts';
import { RateMeter, TokenBucket } from './rate-limiter.ts';
import type { CloudSession } from './session.ts';
import { fromStoredMessage } from './stored-message.ts';
import { systemTimers, type TimerHandle, type Timers } from '../timers.ts';

export interface ForwarderOptions {
  outbox: Outbox;
  /** Whose progress through the outbox this forwarder makes (default its first destination). */
  destination?: string;
  session: CloudSession;
  adapter: CloudAdapter;
  log: Logger;
  /** Messages published and not yet acknowledged, at most. */
  inFlight: number;
  batchSize: number;
  /**
   * Live readings wait up to this long (ms) for others to share their message, unless a full batch
   * is waiting sooner. Command replies, events and a stored backlog never wait. 0: send at once.
   */
  lingerMs?: number;
  /** Readings per second, at most; undefined for no limit. */
  rateLimit?: number;
  order: 'oldest-first' | 'newest-first';
  now?: () => number;
  /** Waits (rate limit, refusal backoff) run on these: a fake clock in tests. */
  timers?: Timers;
}

/** With oldest-first and a backlog, every Nth lease takes the newest readings so live data is not starved. */
const LIVE_SHARE_EVERY = 4;
/**
 * No new lease while this many bytes already written wait in this process for the kernel to take
 * them (one lease may always be out). The kernel's send buffer is what keeps the uplink busy: more
 * queued here adds no speed, delays every command reply written after it, and holds the payloads
 * long enough for V8 to move them into the old generation: in a loopback drain of a million
 * readings, 90–130 MB promoted without this gate, 9 MB in most runs with it, and a peak RSS ~8 MB
 * lower at the same rate (bench/agent-memory.ts; the README's performance table).
 */
const MAX_QUEUED_BYTES = 64 * 1024;
/**
 * After the cloud refuses a publish (PUBACK reason code), nothing is sent for this long, doubling up
 * to REFUSAL_MAX_MS while refusals go on: a quota clears, a permission gets fixed in the portal, and
 * meanwhile neither the uplink nor the cloud is hammered with the same batch at every commit.
 */
const REFUSAL_FIRST_MS = 1000;
const REFUSAL_MAX_MS = 300_000;

export class Forwarder {
  readonly #o: ForwarderOptions;
  readonly #log: Logger;
  readonly #bucket: TokenBucket | undefined;
  readonly #rate: RateMeter;
  #publishedReadings = 0;
  #messagesInFlight = 0;
  #leaseCount = 0;
  #running = false;
  #pumping = false;
  #retryTimer: TimerHandle | undefined;
  #lingerTimer: TimerHandle | undefined;
  readonly #timers: Timers;
  #unsubscribe: (() => void)[] = [];
  #idle: (() => void)[] = [];
  readonly #now: () => number;
  #refusalDelayMs = REFUSAL_FIRST_MS;
  #pausedUntil = 0;
  readonly #refusalLog = new RateLimitedLog(60_000);

  constructor(options: ForwarderOptions) {
    this.#o = options;
    this.#log = options.log.child({ component: 'forwarder' });
    this.#timers = options.timers ?? systemTimers;
    const now = options.now ?? options.timers?.now ?? Date.now;
    this.#now = now;
    this.#bucket = options.rateLimit === undefined ? undefined : new TokenBucket(options.rateLimit, now);
    this.#rate = new RateMeter(60_000, 12, now);
  }

  start(): void {
    this.#running = true;
    // New readings are leased as they arrive, not after their commit: one the cloud acknowledges
    // within the commit window is never written to storage (sqlite-outbox.ts).
    this.#unsubscribe = [this.#o.outbox.onCommit(() => this.pump()), this.#o.outbox.onAvailable(this.#onAvailable)];
    this.#o.session.on('connected', this.#onConnected);
    this.pump();
  }

  stop(): void {
    this.#running = false;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
    this.#o.session.off('connected', this.#onConnected);
    this.#timers.clearTimeout(this.#retryTimer);
    this.#timers.clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
  }

  /** Resolves when nothing is in flight (used at shutdown, bounded by the caller). */
  drained(): Promise<void> {
    if (this.#messagesInFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  /** The readings side of the link's statistics: the session counts messages and bytes, the forwarder what they held. */
  stats(): { publishedReadings: number; publishRate: number } {
    return { publishedReadings: this.#publishedReadings, publishRate: this.#rate.perSecond() };
  }

  readonly #onConnected = () => this.pump();

  /** New readings: the linger window opens with the first of them, and closes with a pump. */
  readonly #onAvailable = () => {
    const lingerMs = this.#o.lingerMs ?? 0;
    if (lingerMs > 0 && this.#lingerTimer === undefined) {
      this.#lingerTimer = this.#timers.setTimeout(() => {
        this.#lingerTimer = undefined;
        this.pump();
      }, lingerMs);
    }
    this.pump();
  };

  /** Fills the in-flight window from the outbox. Cheap to call often: it returns at once when there is nothing to do. */
  pump(): void {
    if (this.#pumping) return;
    const pausedFor = this.#pausedUntil - this.#now();
    if (pausedFor > 0) {
      this.#scheduleRetry(pausedFor);
      return;
    }
    this.#pumping = true;
    try {
      while (this.#running && this.#o.session.connected && this.#messagesInFlight < this.#o.inFlight && !this.#socketBacklogged()) {
        let max = this.#o.batchSize;
        if (this.#bucket) {
          const tokens = this.#bucket.available();
          if (tokens < 1) {
            this.#scheduleRetry(this.#bucket.waitMs());
            break;
          }
          max = Math.min(max, tokens);
        }
        // While the linger window is open, live readings go only as a full batch; the window's end sends the rest.
        const minLive = this.#lingerTimer === undefined ? 1 : max;
        const lease = this.#o.outbox.lease({ max, from: this.#nextEnd(), minLive, ...(this.#o.destination === undefined ? {} : { destination: this.#o.destination }) });
        if (!lease) break;
        this.#send(lease);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /** A PUBACK for what is in flight pumps again, so a lease held back here is not forgotten. */
  #socketBacklogged(): boolean {
    return this.#messagesInFlight > 0 && this.#o.session.queuedBytes >= MAX_QUEUED_BYTES;
  }

  #nextEnd(): 'oldest' | 'newest' {
    if (this.#o.order === 'newest-first') return 'newest';
    this.#leaseCount++;
    return this.#leaseCount % LIVE_SHARE_EVERY === 0 ? 'newest' : 'oldest';
  }

  #send(lease: Lease): void {
    const messages: OutgoingMessage[] = [];
    const telemetry: TelemetryRecord[] = [];
    for (const entry of lease.entries) {
      if (entry.lane === 'reserved') {
        const message = fromStoredMessage(entry.body);
        if (message) messages.push(message);
        else this.#log.warn({ event: 'reserved-entry-unreadable', seq: entry.seq }, 'dropping an unreadable reserved outbox entry');
      } else {
        // The entry is a TelemetryRecord already: no copy, and its values are parsed only if the format needs them.
        telemetry.push(entry);
      }
    }
    if (telemetry.length > 0) {
      const encoded = this.#o.adapter.encodeTelemetry(telemetry);
      messages.push(...encoded.messages);
      for (const { record, reason } of encoded.rejected) {
        this.#o.outbox.recordDropped(record.sensorId, 1, reason);
      }
    }
    this.#bucket?.take(telemetry.length);
    if (messages.length === 0) {
      this.#o.outbox.ack(lease.leaseId);
      return;
    }
    // Only the lease's id and counts wait for the acknowledgements: its entries (and their strings)
    // are garbage now that the payloads hold them, and a backlog drain keeps thousands in flight.
    this.#await(messages, lease.leaseId, telemetry.length);
  }

  #await(messages: OutgoingMessage[], leaseId: number, readings: number): void {
    const count = messages.length;
    this.#messagesInFlight += count;
    let failed = false;
    const results = messages.map((message) =>
      this.#o.session.publish(message).then(
        () => undefined,
        (error: unknown) => {
          failed = true;
          return error;
        },
      ),
    );
    void Promise.all(results).then((errors) => {
      this.#messagesInFlight -= count;
      if (failed) {
        this.#o.outbox.nack(leaseId);
        const refused = errors.find((e) => e instanceof PublishRefusedError);
        if (refused) this.#pauseAfterRefusal(refused);
        else this.#log.debug({ event: 'lease-nacked', leaseId, err: errors.find((e) => e !== undefined) }, 'batch not acknowledged; it will be sent again');
      } else {
        if (this.#refusalDelayMs > REFUSAL_FIRST_MS) {
          this.#refusalDelayMs = REFUSAL_FIRST_MS;
          this.#log.info({ event: 'publish-accepted-again' }, 'the cloud accepts publishes again; sending the readings kept meanwhile');
        }
        this.#o.outbox.ack(leaseId);
        this.#publishedReadings += readings;
        this.#rate.add(readings);
      }
      if (this.#messagesInFlight === 0) for (const resolve of this.#idle.splice(0)) resolve();
      // After a failure, wait for the session's next 'connected' instead of spinning on a dead link.
      if (!failed) this.pump();
    });
  }

  #pauseAfterRefusal(refused: PublishRefusedError): void {
    const now = this.#now();
    // Leases in flight together are refused together: one pause for all of them.
    if (now < this.#pausedUntil) return;
    const delayMs = this.#refusalDelayMs;
    this.#pausedUntil = now + delayMs;
    this.#refusalDelayMs = Math.min(REFUSAL_MAX_MS, delayMs * 2);
    const suppressed = this.#refusalLog.admit(String(refused.reasonCode), now);
    if (suppressed >= 0) {
      this.#log.warn(
        { event: 'publish-refused', topic: refused.topic, reasonCode: refused.reasonCode, retryInMs: delayMs, suppressedSinceLast: suppressed },
        `${refused.message}; the readings stay in the outbox and are sent again in ${Math.round(delayMs / 1000)} s`,
      );
    }
    this.#scheduleRetry(delayMs);
  }

  #scheduleRetry(ms: number): void {
    if (this.#retryTimer) return;
    this.#retryTimer = this.#timers.setTimeout(() => {
      this.#retryTimer = undefined;
      this.pump();
    }, Math.max(1, ms));
  }
}
