// Everything the agent runs for one config: outbox, sources, cloud link, commands. Built from a
// config (the constructor only builds: no file opened, no socket), started part by part in start(),
// stopped in reverse. A reload builds a new one.
import { redactConfig } from './agent-config/redact.ts';
import type { AgentConfig } from './agent-config/schema.ts';
import type { CloudAdapter } from './cloud/adapter.ts';
import { createAdapter } from './cloud/adapters/index.ts';
import { FactsOnConnect } from './cloud/facts-on-connect.ts';
import { Forwarder } from './cloud/forwarder.ts';
import { Inbox, type ApplyConfigChange } from './cloud/inbox.ts';
import { ReplyLane } from './cloud/reply-lane.ts';
import { CloudSession } from './cloud/session.ts';
import { clockSynchronized } from './clock.ts';
import { builtinHandlers } from './commands/builtins/index.ts';
import { sessionExpiryMs } from './commands/config.ts';
import { Dispatcher } from './commands/dispatcher.ts';
import { HealthService } from './health/health-service.ts';
import type { Logger } from './log.ts';
import { DeferredOutbox } from './outbox/deferred-outbox.ts';
import type { Outbox } from './outbox/outbox.ts';
import { PartList, type Part } from './part-list.ts';
import { createSource } from './sources/index.ts';
import { createReporter, type Reporter } from './sources/report/reporter.ts';
import type { Source } from './sources/source.ts';
import type { StatusSnapshot } from './status/snapshot.ts';
import { systemTimers } from './timers.ts';
import { AGENT_VERSION } from './version.ts';

export interface PipelineHooks {
  log: Logger;
  snapshot: () => StatusSnapshot;
  /** Applies a config change from the cloud; resolves with the outcome (the agent reloads after). */
  applyConfigChange: ApplyConfigChange;
  rawConfig: () => unknown;
  requestRestart: (reason: string) => void;
  now?: () => number;
}

export class Pipeline {
  readonly config: AgentConfig;
  /** Opens in start(); until then its stats() are empty. */
  readonly outbox: Outbox;
  readonly sources: Source[];
  /** Per sensor id: what decides which of its readings reach the outbox (its `report` section). */
  readonly reporters: ReadonlyMap<string, Reporter>;
  readonly adapter: CloudAdapter;
  readonly session: CloudSession;
  readonly forwarder: Forwarder;
  readonly dispatcher: Dispatcher;
  readonly inbox: Inbox;
  readonly health: HealthService;
  readonly #parts: PartList;

  constructor(config: AgentConfig, hooks: PipelineHooks) {
    const log = hooks.log;
    const now = hooks.now ?? Date.now;
    const synchronized = () => clockSynchronized(now());
    this.config = config;
    const outbox = new DeferredOutbox({ dataDir: config.agent.dataDir, agentId: config.agent.id, config: config.outbox, log: log.child({ component: 'outbox' }), now });
    this.outbox = outbox;
    const reporters = new Map<string, Reporter>();
    this.reporters = reporters;
    const wallTimers = { ...systemTimers, now };
    this.sources = config.sensors.map((sensor) => {
      const reporter = createReporter({ sensorId: sensor.id, config: sensor.report, emit: (reading) => void outbox.append(reading), timers: wallTimers, elapsed: () => performance.now() });
      reporters.set(sensor.id, reporter);
      return createSource(sensor, { log: log.child({ component: 'sensor', sensor: sensor.id }), emit: (reading) => reporter.offer(reading), now, clockSynchronized: synchronized });
    });
    this.adapter = createAdapter(config.cloud, {
      agentId: config.agent.id,
      agentVersion: AGENT_VERSION,
      dataDir: config.agent.dataDir,
      log: log.child({ component: 'cloud', provider: config.cloud.provider }),
      now,
      clockSynchronized: synchronized,
    });
    this.session = new CloudSession({
      adapter: this.adapter,
      log,
      connectTimeoutMs: config.cloud.connectTimeout,
      reconnectMaxMs: config.cloud.reconnectMax,
      sessionExpiryMs: sessionExpiryMs(config.commands),
      now,
    });
    this.forwarder = new Forwarder({
      outbox,
      session: this.session,
      adapter: this.adapter,
      log,
      inFlight: config.cloud.inFlight,
      batchSize: config.cloud.batchSize,
      lingerMs: config.cloud.linger ?? this.adapter.defaultLingerMs,
      ...(config.cloud.rateLimit !== undefined ? { rateLimit: config.cloud.rateLimit } : {}),
      order: config.outbox.order,
      now,
    });
    this.dispatcher = new Dispatcher({
      handlers: builtinHandlers({
        snapshot: hooks.snapshot,
        config,
        rawConfig: hooks.rawConfig,
        redactConfig,
        applyConfigChange: hooks.applyConfigChange,
        sources: () => this.sources,
        outbox,
        requestRestart: hooks.requestRestart,
        log,
      }),
      allow: config.commands.allow,
      timeoutMs: config.commands.timeout,
      maxConcurrent: config.commands.maxConcurrent,
      rate: config.commands.rate,
      ...(config.commands.maxAge !== 'off' ? { maxAgeMs: config.commands.maxAge } : {}),
      clockSynchronized: synchronized,
      log,
      now,
    });
    this.inbox = new Inbox({
      session: this.session,
      adapter: this.adapter,
      dispatcher: this.dispatcher,
      replies: new ReplyLane({ session: this.session, outbox }),
      applyConfigChange: hooks.applyConfigChange,
      log,
      now,
    });
    const facts = new FactsOnConnect({
      session: this.session,
      adapter: this.adapter,
      facts: () => ({ agentVersion: AGENT_VERSION, link: 'connected', outboxPending: hooks.snapshot().outbox.pending, configVersion: config.version, agentId: config.agent.id }),
    });
    this.health = new HealthService({ config: config.health, dataDir: config.agent.dataDir, snapshot: hooks.snapshot, emit: (reading) => void outbox.append(reading), log });

    // Started top to bottom, stopped bottom to top. What receives data starts before what sends
    // it, so at shutdown the sensors stop first and the link lasts long enough to send their last
    // readings.
    const parts: Part[] = [
      { name: 'outbox', start: () => outbox.open(), stop: () => outbox.close() },
      // Listening before the link comes up, so nothing the broker kept for us goes unheard.
      { name: 'inbox', start: () => this.inbox.start(), stop: () => this.inbox.stop() },
      { name: 'facts', start: () => facts.start(), stop: () => facts.stop() },
      { name: 'cloud link', start: () => this.session.start(), stop: () => Promise.race([this.session.stop(), new Promise((r) => setTimeout(r, 2000).unref())]) },
      { name: 'forwarder', start: () => this.forwarder.start(), stop: () => this.forwarder.stop() },
      // Give in-flight messages a moment to be acknowledged; what is not stays in the outbox.
      { name: 'forwarder drain', stop: () => Promise.race([this.forwarder.drained(), new Promise((r) => setTimeout(r, 1000).unref())]) },
      // Commits what the sensors left, so the forwarder can send it while it drains.
      { name: 'outbox flush', stop: () => outbox.flush() },
      ...this.sources.map((source) => ({
        name: `sensor ${source.id}`,
        // A sensor that cannot start (port missing) retries by itself; it must never stop the others.
        start: () => source.start().catch((error: unknown) => log.error({ event: 'sensor-start-failed', sensor: source.id, err: error }, `sensor ${source.id} failed to start`)),
        stop: async () => {
          await source.stop();
          // A window in progress goes to the outbox before it closes.
          this.reporters.get(source.id)?.stop();
        },
      })),
      { name: 'health', start: () => this.health.start(), stop: () => this.health.stop() },
    ];
    this.#parts = new PartList(parts, log);
  }

  start(): Promise<void> {
    return this.#parts.start();
  }

  stop(): Promise<void> {
    return this.#parts.stop();
  }
}
