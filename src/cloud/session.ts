// The one MQTT connection to the cloud. Every adapter rides on it: the session does the I/O,
// the adapter says what to send and how to read what arrives. This file supervises the connection
// (connect, wire its events, get back after a failure); how long to wait is reconnect.ts's call,
// the mqtt.js options are mqtt-options.ts's, publishes and their PUBACKs are publisher.ts's, and the
// link's statistics are link-status.ts's.
import { EventEmitter } from 'node:events';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { RateLimitedLog, type Logger } from '../log.ts';
import type { SessionStatus } from '../status/snapshot.ts';
import { systemTimers, type TimerHandle, type Timers } from '../timers.ts';
import type { CloudAdapter, ConnectOptions } from './adapter.ts';
import { fullJitterDelay, MIN_RECONNECT_DELAY_MS } from './backoff.ts';
import { describeConnackRefusal } from './connack.ts';
import { ClockNotSynchronizedError, CredentialsUnavailableError } from './errors.ts';
import { LinkStatusRecorder } from './link-status.ts';
import type { IncomingMessage, OutgoingMessage } from './message.ts';
import { brokerAddress, redactUrl, toMqttOptions } from './mqtt-options.ts';
import { Publisher } from './publisher.ts';
import { backoffDelay, classifyConnectError, DEFAULT_RECONNECT_TIMING, probeTcp, waitUntilReachable, type FailureKind, type ReconnectTiming } from './reconnect.ts';
import { MAX_INCOMING_BYTES } from './bounded-json.ts';

export interface SessionOptions {
  adapter: CloudAdapter;
  log: Logger;
  connectTimeoutMs: number;
  reconnectMaxMs: number;
  reconnectBaseMs?: number;
  /** A connection that lasted less than this did not really succeed: the backoff keeps growing. */
  stableAfterMs?: number;
  now?: () => number;
  /** Backoffs, probes, renewals and heartbeats wait on these (a fake clock in tests); `now` defaults to theirs. */
  timers?: Timers;
  /** Opens an MQTT client (mqtt.connect; a fake transport in tests). */
  connect?: (options: IClientOptions) => MqttClient;
  random?: () => number;
  /** How long to wait for the clock before asking the adapter again. */
  clockRetryMs?: number;
  /** Probe and spread timing after an unreachable endpoint (see reconnect.ts). */
  reconnectTiming?: ReconnectTiming;
  /** Does anything answer at this URL? Default: a bare TCP connect. */
  probe?: (url: string, timeoutMs: number) => Promise<boolean>;
  /**
   * How long the broker should keep a persistent session (and the commands queued in it) while
   * the agent is away: `commands.maxAge`, so nothing older than that is delivered late.
   */
  sessionExpiryMs?: number;
  /** Incoming messages larger than this are dropped unread (and MQTT 5 brokers are told not to send them). */
  maxIncomingBytes?: number;
  /**
   * When this process's previous session on the same link ended (a config reload): the broker kept
   * that session, and the commands sent during the reload, so it is resumed while young enough.
   */
  previousSessionEndedAt?: number;
}


interface ConnectOutcome {
  connectedForMs: number;
  renew: boolean;
  authRejected: boolean;
  /** Why it ended, when it was not a planned renewal or stop. */
  failure: FailureKind;
  reason: string;
  /** The CONNACK code when the cloud refused the connection. */
  refusedCode?: number | string;
}

export class LinkDownError extends Error {
  constructor(message = 'the cloud link is down') {
    super(message);
    this.name = 'LinkDownError';
  }
}

interface SessionEvents {
  connected: [];
  disconnected: [reason: string];
  message: [message: IncomingMessage];
}

export class CloudSession extends EventEmitter<SessionEvents> {
  readonly #adapter: CloudAdapter;
  readonly #log: Logger;
  readonly #options: Required<Omit<SessionOptions, 'adapter' | 'log' | 'previousSessionEndedAt'>>;
  #client: MqttClient | undefined;
  #everyPublish: Record<string, string> | undefined;
  #stopped = true;
  #attempt = 0;
  #wakeUp: (() => void) | undefined;
  #timers = new Set<TimerHandle>();
  #loop: Promise<void> | undefined;
  #clockLogged = false;
  readonly #status: LinkStatusRecorder;
  readonly #publisher: Publisher;
  /** When the last connection ended (for resuming a 3.1.1 session only while it is young enough), or null before the first. */
  #lastConnectedUntil: number | null;
  #droppedIncoming = 0;
  readonly #quietly = new RateLimitedLog(60_000);

  constructor(options: SessionOptions) {
    super();
    this.#adapter = options.adapter;
    this.#lastConnectedUntil = options.previousSessionEndedAt ?? null;
    this.#log = options.log.child({ component: 'link' });
    this.#options = {
      connectTimeoutMs: options.connectTimeoutMs,
      reconnectMaxMs: options.reconnectMaxMs,
      reconnectBaseMs: options.reconnectBaseMs ?? 1000,
      stableAfterMs: options.stableAfterMs ?? 30_000,
      now: options.now ?? options.timers?.now ?? Date.now,
      timers: options.timers ?? systemTimers,
      connect: options.connect ?? ((clientOptions: IClientOptions) => mqtt.connect(clientOptions)),
      random: options.random ?? Math.random,
      clockRetryMs: options.clockRetryMs ?? 10_000,
      reconnectTiming: options.reconnectTiming ?? DEFAULT_RECONNECT_TIMING,
      probe: options.probe ?? probeTcp,
      sessionExpiryMs: options.sessionExpiryMs ?? 10 * 60_000,
      maxIncomingBytes: options.maxIncomingBytes ?? MAX_INCOMING_BYTES,
    };
    this.#status = new LinkStatusRecorder(options.adapter.provider, this.#options.now);
    this.#publisher = new Publisher(this.#status);
  }

  /** Bytes written to the connection that still wait in this process for the kernel (socket backpressure). */
  get queuedBytes(): number {
    return this.#client?.stream?.writableLength ?? 0;
  }

  /** When the last connection ended, or null before the first (handed to the session that replaces this one on a reload). */
  get lastConnectedUntil(): number | null {
    return this.#lastConnectedUntil;
  }

  get connected(): boolean {
    return this.#status.state === 'connected' && this.#linkUp();
  }

  #linkUp: () => boolean = () => false;

  status(): SessionStatus {
    return this.#status.snapshot(this.#publisher.inFlight);
  }

  /** Incoming messages dropped unread for their size. */
  droppedIncoming(): number {
    return this.#droppedIncoming;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#wakeUp?.();
    for (const timer of this.#timers) this.#options.timers.clearTimeout(timer);
    this.#timers.clear();
    const client = this.#client;
    if (client) await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
    await this.#loop;
    this.#status.setState('stopped');
  }

  /** Publishes at the message's QoS (default 1); resolves on PUBACK. Rejects at once while the link is down. */
  publish(message: OutgoingMessage): Promise<void> {
    const client = this.#client;
    if (!client || !this.connected) return Promise.reject(new LinkDownError());
    return this.#publisher.publish(client, message, this.#everyPublish);
  }

  async #run(): Promise<void> {
    // The first attempt waits one turn of the event loop: the agent reports READY to systemd first
    // (mqtt.js loads its transports on connect, ~10 ms of start on this machine, more on a Pi).
    await new Promise((resolve) => setImmediate(resolve));
    while (!this.#stopped) {
      let options: ConnectOptions;
      this.#status.setState('connecting');
      try {
        options = await this.#adapter.connectOptions();
      } catch (error) {
        if (error instanceof ClockNotSynchronizedError) {
          this.#status.setState('waiting-for-clock');
          if (!this.#clockLogged) this.#log.warn({ event: 'clock-unsynchronized' }, error.message);
          this.#clockLogged = true;
          this.#status.error(error.message);
          await this.#sleep(this.#options.clockRetryMs);
          continue;
        }
        if (error instanceof CredentialsUnavailableError) {
          this.#status.error(error.message);
          this.#log.warn({ event: 'credentials-unavailable', retryInMs: error.retryAfterMs }, error.message);
          await this.#sleep(error.retryAfterMs);
          continue;
        }
        const message = error instanceof Error ? error.message : String(error);
        this.#status.error(message);
        this.#log.error({ event: 'connect-options-failed' }, `cannot prepare the connection: ${message}`);
        await this.#backoff();
        continue;
      }
      this.#clockLogged = false;
      const outcome = await this.#connectOnce(options);
      if (this.#stopped) break;
      if (outcome.renew) continue; // a planned reconnect for fresh credentials: no backoff
      if (outcome.connectedForMs >= this.#options.stableAfterMs) this.#attempt = 0;
      if (outcome.authRejected) await this.#adapter.onAuthRejected?.().catch((error: unknown) => this.#log.error({ event: 'auth-rejected-handler-failed', err: error }, 'could not reset credentials after the cloud refused them'));
      await this.#recover(outcome, options.url);
    }
  }

  /** Waits until a full connect is worth trying again; how long depends on why the last one ended (reconnect.ts). */
  async #recover(outcome: ConnectOutcome, url: string): Promise<void> {
    const wasConnected = outcome.connectedForMs > 0;
    let kind = outcome.failure;
    // Unless the cloud said no, ask the network now: a dropped link or an unclear failure may be
    // the network, and an endpoint that refused TCP a moment ago may be answering again already.
    if (kind !== 'refused') kind = (await this.#options.probe(url, this.#options.reconnectTiming.probeTimeoutMs)) ? 'failed' : 'unreachable';
    if (this.#stopped) return;
    if (kind === 'unreachable') {
      this.#logAttempt(wasConnected, { event: 'connect-failed', reason: outcome.reason }, `${this.#status.endpoint} is unreachable (${outcome.reason}); probing it every ${this.#options.reconnectTiming.probeMinMs / 1000}-${this.#options.reconnectTiming.probeMaxMs / 1000} s and reconnecting as soon as it answers`);
      const since = this.#options.now();
      const ready = await waitUntilReachable(
        {
          probe: () => this.#options.probe(url, this.#options.reconnectTiming.probeTimeoutMs),
          sleep: (ms) => this.#sleep(ms),
          now: this.#options.now,
          random: this.#options.random,
          running: () => !this.#stopped,
          onNextProbe: (at) => this.#status.setNextAttempt(at),
        },
        this.#options.reconnectTiming,
      );
      this.#status.setNextAttempt(null);
      if (ready) this.#log.info({ event: 'endpoint-reachable', unreachableForMs: this.#options.now() - since }, `${this.#status.endpoint} answers again: reconnecting`);
      return;
    }
    const delay = Math.max(MIN_RECONNECT_DELAY_MS, backoffDelay(kind, this.#attempt, this.#options.reconnectBaseMs, this.#options.reconnectMaxMs, this.#options.reconnectTiming, this.#options.random));
    this.#attempt++;
    const retry = `retrying in ${(delay / 1000).toFixed(1)} s`;
    if (outcome.refusedCode !== undefined) {
      this.#logAttempt(wasConnected, { event: 'connect-refused', code: outcome.refusedCode, delayMs: delay }, `${this.#status.endpoint} refused the connection: ${outcome.reason}; ${retry}`, 'error');
    } else {
      this.#logAttempt(wasConnected, { event: 'connect-failed', delayMs: delay }, `connecting to ${this.#status.endpoint} failed (${outcome.reason}); ${retry}`, 'warn');
    }
    await this.#waitFor(delay);
  }

  /**
   * One line per failed attempt, with its retry plan. The same failure again within a minute goes to
   * debug, and the next one at its level says how many there were: a gateway with its cell down for a
   * day, or a wrong password, must not fill the journal. A dropped connection was logged already
   * ('disconnected' at warn): how it comes back is news, not a problem.
   */
  #logAttempt(wasConnected: boolean, fields: Record<string, unknown> & { event: string }, message: string, level: 'warn' | 'error' = 'warn'): void {
    const line = { endpoint: this.#status.endpoint, attempt: this.#attempt, ...fields, ...(wasConnected ? { event: 'reconnecting' } : {}) };
    if (wasConnected) return void this.#log.info(line, message);
    const suppressed = this.#quietly.admit(`${fields.event}:${message.replace(/retrying in .*$|probing .*$/, '')}`, this.#options.now());
    if (suppressed < 0) return void this.#log.debug(line, message);
    this.#log[level]({ ...line, ...(suppressed > 0 ? { suppressed } : {}) }, suppressed > 0 ? `${message} (${suppressed} more like it in the last minute, at debug level)` : message);
  }

  /** The long backoff, for failures before any connection (adapter preparation). */
  async #backoff(): Promise<void> {
    const delay = Math.max(MIN_RECONNECT_DELAY_MS, fullJitterDelay(this.#attempt, this.#options.reconnectBaseMs, this.#options.reconnectMaxMs, this.#options.random));
    this.#attempt++;
    this.#log.info({ event: 'reconnect-scheduled', delayMs: delay, attempt: this.#attempt }, `reconnecting in ${(delay / 1000).toFixed(1)} s`);
    await this.#waitFor(delay);
  }

  async #waitFor(delay: number): Promise<void> {
    this.#status.setNextAttempt(this.#options.now() + delay);
    await this.#sleep(delay);
    this.#status.setNextAttempt(null);
  }

  #connectOnce(options: ConnectOptions): Promise<ConnectOutcome> {
    return new Promise((resolve) => {
      this.#status.setEndpoint(redactUrl(options.url));
      let connectedAt = 0;
      let renew = false;
      let authRejected = false;
      let failure: FailureKind = 'failed';
      let reason = 'the connection closed before the cloud answered';
      let refusedCode: number | string | undefined;
      let settled = false;
      let linkDown = false;
      this.#linkUp = () => !linkDown && client.connected;
      let renewTimer: TimerHandle | undefined;
      let heartbeatTimer: TimerHandle | undefined;
      const clean = !this.#resumeSession(options);
      // 3.1.1 cannot say "a new session, but keep it": a clean connect discards the old one, then the
      // next connect (at once, no backoff) opens the persistent one that catches commands from now on.
      const discardOnly = clean && options.persistentSession === true && options.protocolVersion !== 5;
      const client = this.#options.connect({ ...brokerAddress(options.url), ...toMqttOptions(options, this.#options.connectTimeoutMs, { clean, sessionExpirySeconds: Math.ceil(this.#options.sessionExpiryMs / 1000), maxIncomingBytes: this.#options.maxIncomingBytes }) });
      this.#client = client;
      this.#everyPublish = options.protocolVersion === 5 ? options.userPropertiesOnEveryPublish : undefined;

      client.on('connect', () => {
        if (discardOnly) {
          this.#lastConnectedUntil = this.#options.now();
          renew = true;
          this.#log.debug({ event: 'session-reset' }, 'discarded the session the broker kept (its commands may be older than commands.maxAge); opening a fresh persistent one');
          client.end(true);
          return;
        }
        connectedAt = this.#options.now();
        this.#status.connectedAt(connectedAt);
        this.#log.info({ event: 'connected', endpoint: this.#status.endpoint, clientId: options.clientId }, `connected to ${this.#status.endpoint}`);
        void this.#afterConnect(client);
        if (options.renewAt !== undefined) {
          const delay = Math.max(0, options.renewAt - this.#options.now());
          renewTimer = this.#timer(() => {
            renew = true;
            this.#log.info({ event: 'credentials-renewal' }, 'reconnecting with fresh credentials before they expire');
            client.end(false);
          }, delay);
        }
        const heartbeat = this.#adapter.heartbeat;
        if (heartbeat) {
          const beat = () => {
            this.#publishAll(heartbeat.encode(), 'heartbeat');
            heartbeatTimer = this.#timer(beat, heartbeat.intervalMs);
          };
          heartbeatTimer = this.#timer(beat, heartbeat.intervalMs);
        }
        this.emit('connected');
      });
      client.on('message', (topic, payload, packet) => {
        if (payload.length > this.#options.maxIncomingBytes) return this.#dropIncoming(topic, payload.length);
        const properties = packet.properties;
        this.emit('message', {
          topic,
          payload,
          ...(properties
            ? {
                properties: {
                  ...(properties.responseTopic ? { responseTopic: properties.responseTopic } : {}),
                  ...(properties.correlationData ? { correlationData: properties.correlationData } : {}),
                  ...(properties.contentType ? { contentType: properties.contentType } : {}),
                  ...(properties.userProperties ? { userProperties: flattenUserProperties(properties.userProperties) } : {}),
                },
              }
            : {}),
        });
      });
      client.on('error', (error: Error & { code?: number | string }) => {
        // Stop publishing at once: until 'close' arrives, mqtt.js may still call itself connected.
        linkDown = true;
        const refused = describeConnackRefusal(error.code);
        failure = classifyConnectError(refused ? Number(error.code) : typeof error.code === 'number' ? undefined : error.code);
        if (refused) {
          authRejected = refused.auth;
          // "Server unavailable" and "busy" are the cloud's back end, not our credentials: the short backoff.
          if (!refused.auth) failure = 'failed';
          reason = refused.text;
          refusedCode = error.code;
          this.#status.error(`the cloud refused the connection: ${refused.text}`);
        } else {
          reason = error.message;
          this.#status.error(error.message);
          // Logged once, with the retry plan, when the connection is settled (#recover); a live link's error is news now.
          if (connectedAt > 0) this.#log.warn({ event: 'link-error', err: { message: error.message, code: error.code } }, `link error: ${error.message}`);
        }
        client.end(true);
      });
      // mqtt.js does not always emit 'close' (a keepalive timeout destroys the stream first), but
      // end() always ends with 'end': either one settles this connection.
      const onGone = () => {
        if (settled) return;
        settled = true;
        for (const timer of [renewTimer, heartbeatTimer]) {
          if (timer === undefined) continue;
          this.#options.timers.clearTimeout(timer);
          this.#timers.delete(timer);
        }
        const wasConnected = connectedAt > 0;
        linkDown = true;
        this.#publisher.failAll(new LinkDownError('the connection closed before the cloud acknowledged the message'));
        client.end(true);
        if (this.#client === client) this.#client = undefined;
        if (!this.#stopped) this.#status.setState('disconnected');
        if (wasConnected) {
          this.#lastConnectedUntil = this.#options.now();
          const planned = renew || this.#stopped;
          const fields = { event: 'disconnected', connectedForMs: this.#options.now() - connectedAt, planned };
          if (planned) this.#log.info(fields, this.#stopped ? 'disconnected from the cloud (stopping)' : 'disconnected to renew credentials');
          else this.#log.warn(fields, 'disconnected from the cloud');
          this.emit('disconnected', renew ? 'renew' : 'closed');
        }
        resolve({ connectedForMs: wasConnected ? this.#options.now() - connectedAt : 0, renew: renew && !this.#stopped, authRejected, failure, reason, ...(refusedCode !== undefined ? { refusedCode } : {}) });
      };
      client.on('close', onGone);
      client.on('end', onGone);
    });
  }

  /**
   * Whether to ask the broker for the session it kept (and the commands it queued meanwhile).
   * MQTT 5 brokers drop a session older than its expiry themselves. A 3.1.1 session has no expiry,
   * so it is resumed only while the agent knows it is younger than sessionExpiryMs: after a longer
   * outage, or at process start when nobody knows how long the agent was away, it is discarded
   * first, and a command queued hours ago can never open a valve now.
   */
  #resumeSession(options: ConnectOptions): boolean {
    if (!options.persistentSession) return false;
    if (options.protocolVersion === 5) return true;
    return this.#lastConnectedUntil !== null && this.#options.now() - this.#lastConnectedUntil < this.#options.sessionExpiryMs;
  }

  #dropIncoming(topic: string, bytes: number): void {
    this.#droppedIncoming++;
    const suppressed = this.#quietly.admit('incoming-too-large', this.#options.now());
    if (suppressed < 0) return;
    this.#log.warn(
      { event: 'incoming-too-large', topic: topic.slice(0, 200), bytes, limit: this.#options.maxIncomingBytes, dropped: this.#droppedIncoming },
      `dropped a ${bytes}-byte message from the cloud unread: larger than the ${this.#options.maxIncomingBytes}-byte limit${suppressed > 0 ? ` (${suppressed} more since the last report)` : ''}`,
    );
  }

  async #afterConnect(client: MqttClient): Promise<void> {
    const topics = this.#adapter.subscriptions();
    if (topics.length > 0) {
      try {
        const granted = await client.subscribeAsync(topics, { qos: 1 });
        const refused = granted.filter((g) => g.qos === 128);
        if (refused.length > 0) this.#log.error({ event: 'subscribe-refused', topics: refused.map((g) => g.topic) }, `the cloud refused subscriptions to ${refused.map((g) => g.topic).join(', ')}: commands on them will not arrive`);
        const accepted = granted.filter((g) => g.qos !== 128).map((g) => g.topic);
        // With a clean session, commands published before this point are not delivered: the moment matters to whoever sends them.
        if (accepted.length > 0) this.#log.info({ event: 'subscribed', topics: accepted }, `subscribed to ${accepted.join(', ')}: commands and answers from the cloud arrive from now on`);
      } catch (error) {
        this.#log.warn({ event: 'subscribe-failed', err: error }, 'subscribing failed; will retry on the next connection');
      }
    }
    this.#publishAll(this.#adapter.onConnected?.() ?? [], 'on-connect');
  }

  /** Fire-and-log publishing for control messages (heartbeats, twin requests): losing one is harmless. */
  #publishAll(messages: OutgoingMessage[], purpose: string): void {
    for (const message of messages) {
      this.publish(message).catch((error: unknown) => this.#log.debug({ event: 'control-publish-failed', purpose, err: error }, 'control message not delivered'));
    }
  }

  #timer(fn: () => void, ms: number): TimerHandle {
    const timer = this.#options.timers.setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
    return timer;
  }

  #sleep(ms: number): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = this.#timer(() => {
        this.#wakeUp = undefined;
        resolve();
      }, ms);
      this.#wakeUp = () => {
        this.#options.timers.clearTimeout(timer);
        this.#timers.delete(timer);
        this.#wakeUp = undefined;
        resolve();
      };
    });
  }
}


function flattenUserProperties(properties: Record<string, string | string[]>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(properties)) out[key] = Array.isArray(value) ? (value[0] ?? '') : value;
  return out;
}
