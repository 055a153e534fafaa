// Everything the agent runs for one config: outbox, sources, cloud link, commands. Built from a
// config, started in data-flow order, stopped in reverse. A reload builds a new one.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { adapterDefinitions } from './cloud/adapters/index.ts';
import type { AdapterContext, CloudAdapter, IncomingAction } from './cloud/adapter.ts';
import { Forwarder } from './cloud/forwarder.ts';
import type { IncomingMessage, OutgoingMessage } from './cloud/message.ts';
import { CloudSession } from './cloud/session.ts';
import { toStoredMessage } from './cloud/stored-message.ts';
import { clockSynchronized } from './clock.ts';
import { Dispatcher } from './commands/dispatcher.ts';
import { echoUntrusted } from './untrusted-text.ts';
import { HealthService } from './health/health-service.ts';
import { builtinHandlers } from './commands/builtins/index.ts';
import type { AgentConfig } from './config/schema.ts';
import { RateLimitedLog, type Logger } from './log.ts';
import type { Outbox } from './outbox/outbox.ts';
import { openOutboxOrWait } from './outbox/waiting-outbox.ts';
import { sourceTypes } from './sources/index.ts';
import type { Source, SourceContext } from './sources/source.ts';
import type { StatusSnapshot } from './status/snapshot.ts';
import { AGENT_VERSION } from './version.ts';

/**
 * Incoming messages handled at once, by count and by payload bytes: each holds its decoded params
 * until its reply is sent. Messages arriving beyond this are dropped (and counted) before decoding.
 * mqtt.js hands over every packet of a socket read in one go, so the count allows bursts of small ones.
 */
const MAX_INCOMING_IN_FLIGHT = 1024;
const MAX_INCOMING_BYTES_IN_FLIGHT = 8 * 1024 * 1024;
/** Replies awaiting the broker's PUBACK in mqtt.js; more wait in the outbox's reserved lane, which is bounded on disk. */
const MAX_REPLIES_IN_FLIGHT = 64;
const MAX_REPLY_BYTES_IN_FLIGHT = 1024 * 1024;

export interface PipelineHooks {
  log: Logger;
  snapshot: () => StatusSnapshot;
  /** Applies a config change from the cloud; resolves with the outcome (the agent reloads after). */
  applyConfigChange: (patch: unknown, origin: string) => Promise<{ applied: boolean; message?: string; config?: unknown }>;
  rawConfig: () => unknown;
  requestRestart: (reason: string) => void;
  now?: () => number;
}

/** With commands.maxAge off, a kept session still ends some day: a day covers any blip worth riding out. */
const SESSION_EXPIRY_WITHOUT_MAX_AGE_MS = 24 * 60 * 60_000;

export class Pipeline {
  readonly config: AgentConfig;
  readonly outbox: Outbox;
  readonly sources: Source[];
  readonly adapter: CloudAdapter;
  readonly session: CloudSession;
  readonly forwarder: Forwarder;
  readonly dispatcher: Dispatcher;
  readonly health: HealthService;
  readonly #log: Logger;
  readonly #hooks: PipelineHooks;
  #malformedIncoming = 0;
  #incomingInFlight = 0;
  #incomingBytesInFlight = 0;
  #droppedIncoming = 0;
  #repliesInFlight = 0;
  #replyBytesInFlight = 0;
  readonly #floodLog = new RateLimitedLog(60_000);
  readonly #now: () => number;

  constructor(config: AgentConfig, hooks: PipelineHooks) {
    this.config = config;
    this.#hooks = hooks;
    this.#log = hooks.log;
    const now = hooks.now ?? Date.now;
    this.#now = now;
    this.outbox = openOutboxOrWait({ dataDir: config.agent.dataDir, agentId: config.agent.id, config: config.outbox, log: this.#log.child({ component: 'outbox' }), now });
    const outbox = this.outbox;
    this.sources = config.sensors.map((sensor) => {
      const type = sourceTypes.find((t) => t.type === sensor.type)!;
      const context: SourceContext = {
        log: this.#log.child({ component: 'sensor', sensor: sensor.id }),
        emit: (reading) => void outbox.append(reading),
        now,
        clockSynchronized: () => clockSynchronized(now()),
      };
      return (type.create as (config: unknown, ctx: SourceContext) => Source)(sensor, context);
    });
    const definition = adapterDefinitions.find((d) => d.provider === config.cloud.provider)!;
    const adapterContext: AdapterContext = {
      agentId: config.agent.id,
      agentVersion: AGENT_VERSION,
      dataDir: config.agent.dataDir,
      log: this.#log.child({ component: 'cloud', provider: definition.provider }),
      now,
      clockSynchronized: () => clockSynchronized(now()),
    };
    this.adapter = (definition.create as (config: unknown, ctx: AdapterContext) => CloudAdapter)(config.cloud, adapterContext);
    this.session = new CloudSession({
      adapter: this.adapter,
      log: this.#log,
      connectTimeoutMs: config.cloud.connectTimeout,
      reconnectMaxMs: config.cloud.reconnectMax,
      // Commands the broker keeps for us are no use once they are older than we would run anyway.
      sessionExpiryMs: config.commands.maxAge === 'off' ? SESSION_EXPIRY_WITHOUT_MAX_AGE_MS : config.commands.maxAge,
      now,
    });
    this.forwarder = new Forwarder({
      outbox: this.outbox,
      session: this.session,
      adapter: this.adapter,
      log: this.#log,
      inFlight: config.cloud.inFlight,
      batchSize: config.cloud.batchSize,
      ...(config.cloud.rateLimit !== undefined ? { rateLimit: config.cloud.rateLimit } : {}),
      order: config.outbox.order,
      now,
    });
    this.dispatcher = new Dispatcher({
      handlers: builtinHandlers({
        snapshot: hooks.snapshot,
        config,
        rawConfig: hooks.rawConfig,
        applyConfigChange: hooks.applyConfigChange,
        sources: () => this.sources,
        outbox: this.outbox,
        requestRestart: hooks.requestRestart,
        reboot: () =>
          rebootGateway().then(
            () => undefined,
            (error: Error & { stderr?: string }) => {
              // The reply ("rebooting") has left already: the log is where a refused reboot shows.
              const why = error.stderr?.trim().split('\n')[0] || error.message;
              this.#log.error({ event: 'reboot-failed', reason: why }, `system.reboot: systemctl reboot failed (${why}); the edge-agent user needs permission to reboot: install.sh --allow-reboot`);
            },
          ),
      }),
      allow: config.commands.allow,
      timeoutMs: config.commands.timeout,
      maxConcurrent: config.commands.maxConcurrent,
      rate: config.commands.rate,
      ...(config.commands.maxAge !== 'off' ? { maxAgeMs: config.commands.maxAge } : {}),
      clockSynchronized: () => clockSynchronized(now()),
      log: this.#log,
      now,
    });
    this.health = new HealthService({ config: config.health, dataDir: config.agent.dataDir, snapshot: hooks.snapshot, emit: (reading) => void outbox.append(reading), log: this.#log });
  }

  malformedIncoming(): number {
    return this.#malformedIncoming;
  }

  async start(): Promise<void> {
    for (const source of this.sources) {
      // A sensor that cannot start (port missing) retries by itself; it must never stop the others.
      await source.start().catch((error: unknown) => this.#log.error({ event: 'sensor-start-failed', sensor: source.id, err: error }, `sensor ${source.id} failed to start`));
    }
    this.session.on('message', (message) => this.#onMessage(message));
    // Clouds that keep device state (Azure reported properties) hear the agent's facts on every connect.
    this.session.on('connected', () => {
      const snapshot = this.#hooks.snapshot();
      const facts = { agentVersion: AGENT_VERSION, link: 'connected', outboxPending: snapshot.outbox.pending, configVersion: this.config.version, agentId: this.config.agent.id };
      for (const message of this.adapter.encodeFacts?.(facts) ?? []) this.session.publish(message).catch(() => undefined);
    });
    this.forwarder.start();
    this.session.start();
    await this.health.start();
  }

  async stop(): Promise<void> {
    const step = async (name: string, fn: () => unknown) => {
      try {
        await fn();
      } catch (error) {
        this.#log.error({ event: 'stop-failed', part: name, err: error }, `stopping ${name} failed`);
      }
    };
    await step('health', () => this.health.stop());
    for (const source of [...this.sources].reverse()) await step(`sensor ${source.id}`, () => source.stop());
    await step('outbox flush', () => this.outbox.flush());
    // Give in-flight messages a moment to be acknowledged; what is not stays in the outbox.
    await step('forwarder drain', () => Promise.race([this.forwarder.drained(), new Promise((r) => setTimeout(r, 1000).unref())]));
    await step('forwarder', () => this.forwarder.stop());
    await step('cloud link', () => Promise.race([this.session.stop(), new Promise((r) => setTimeout(r, 2000).unref())]));
    await step('outbox', () => this.outbox.close());
  }

  /** Incoming messages dropped unread because too many were being handled already. */
  droppedIncoming(): number {
    return this.#droppedIncoming;
  }

  #onMessage(message: IncomingMessage): void {
    // The session emits messages as fast as the broker delivers them and mqtt.js cannot be told to
    // wait: without this bound, a flood of slow commands piles up decoded params without end.
    const bytes = message.payload.length;
    if (this.#incomingInFlight >= MAX_INCOMING_IN_FLIGHT || (this.#incomingInFlight > 0 && this.#incomingBytesInFlight + bytes > MAX_INCOMING_BYTES_IN_FLIGHT)) {
      this.#droppedIncoming++;
      const suppressed = this.#floodLog.admit('incoming-dropped', this.#now());
      if (suppressed >= 0) this.#log.warn({ event: 'incoming-dropped', dropped: this.#droppedIncoming, suppressed }, `${this.#incomingInFlight} incoming messages are being handled: dropping more unread (${this.#droppedIncoming} so far)`);
      return;
    }
    let actions: IncomingAction[];
    try {
      actions = this.adapter.decodeIncoming(message);
    } catch (error) {
      this.#malformedIncoming++;
      this.#log.error({ event: 'decode-failed', topic: message.topic, err: error }, `could not decode a message on ${message.topic}`);
      return;
    }
    // The payload is not needed past decoding: only the topic goes on (for log lines).
    this.#incomingInFlight++;
    this.#incomingBytesInFlight += bytes;
    void this.#handle(actions, message.topic).finally(() => {
      this.#incomingInFlight--;
      this.#incomingBytesInFlight -= bytes;
    });
  }

  async #handle(actions: IncomingAction[], topic: string): Promise<void> {
    for (const action of actions) {
      switch (action.kind) {
        case 'command': {
          const { command } = action;
          const accepted = () => {
            const name = echoUntrusted(command.name);
            this.#log.info({ event: 'command-received', id: echoUntrusted(command.id), name, origin: command.origin }, `command ${name} received`);
            this.#send(this.adapter.encodeAccepted?.(command) ?? []);
          };
          const result = await this.dispatcher.dispatch(command, { accepted });
          // No result: dropped in a flood, without a reply (the dispatcher counted it).
          if (result) this.#send(this.adapter.encodeReply(command, result));
          break;
        }
        case 'config': {
          const outcome = await this.#hooks.applyConfigChange(action.patch, `${this.adapter.provider} (version ${action.version})`);
          this.#send(this.adapter.encodeConfigResult?.({ version: action.version, replyTo: action.replyTo }, outcome) ?? []);
          break;
        }
        case 'reply':
          this.#malformedIncoming++;
          // An unreadable command is answered like a command, so it passes the same rate.
          if (!this.dispatcher.admitUnreadable()) break;
          this.#log.warn({ event: 'incoming-refused', topic, reason: action.reason }, `refused a message on ${topic}: ${action.reason}`);
          this.#send(action.messages);
          break;
        case 'notice':
          if (action.level !== 'info') this.#malformedIncoming++;
          this.#log[action.level]({ event: action.event, topic, ...action.fields }, action.message);
          break;
      }
    }
  }

  /**
   * Replies go straight out when the link is up, else wait in the outbox's reserved lane. Those
   * awaiting their PUBACK are bounded: beyond that (a broker reading slowly while commands keep
   * coming), replies wait in the reserved lane too, which retention bounds on disk.
   */
  #send(messages: OutgoingMessage[]): void {
    for (const message of messages) {
      const bytes = typeof message.payload === 'string' ? Buffer.byteLength(message.payload) : message.payload.length;
      if (this.#repliesInFlight >= MAX_REPLIES_IN_FLIGHT || (this.#repliesInFlight > 0 && this.#replyBytesInFlight + bytes > MAX_REPLY_BYTES_IN_FLIGHT)) {
        this.outbox.appendReserved(toStoredMessage(message));
        continue;
      }
      this.#repliesInFlight++;
      this.#replyBytesInFlight += bytes;
      void this.session
        .publish(message)
        .catch(() => {
          this.outbox.appendReserved(toStoredMessage(message));
        })
        .finally(() => {
          this.#repliesInFlight--;
          this.#replyBytesInFlight -= bytes;
        });
    }
  }
}

function rebootGateway(): Promise<unknown> {
  return promisify(execFile)('systemctl', ['reboot'], { timeout: 10_000 });
}
