// Everything the agent runs for one config: outbox, sources (each behind its report mode), and one
// destination per cloud section (destination.ts: link, forwarder, commands). Built from a
// config (the constructor only builds: no file opened, no socket), started part by part in start(),
// stopped in reverse. A reload builds a new one.
import { destinationsOf, type AgentConfig } from './agent-config/schema.ts';
import type { ApplyConfigChange } from './cloud/inbox.ts';
import { clockSynchronized } from './clock.ts';
import { Destination, sensorFilter, type DestinationContext } from './destination.ts';
import { HealthService } from './health/health-service.ts';
import type { ProblemLine } from './health/page-data.ts';
import type { Reading } from './sources/reading.ts';
import type { Logger } from './log.ts';
import { DeferredOutbox } from './outbox/deferred-outbox.ts';
import type { Outbox } from './outbox/outbox.ts';
import { PartList, type Part } from './part-list.ts';
import { createSource } from './sources/index.ts';
import { createReporter, type Reporter } from './sources/report/reporter.ts';
import type { Source } from './sources/source.ts';
import type { StatusSnapshot } from './status/snapshot.ts';
import { systemTimers } from './timers.ts';

export interface PipelineHooks {
  log: Logger;
  snapshot: () => StatusSnapshot;
  /** Applies a config change from the cloud; resolves with the outcome (the agent reloads after). */
  applyConfigChange: ApplyConfigChange;
  rawConfig: () => unknown;
  requestRestart: (reason: string) => void;
  /** Recent warnings and errors, for the status page. */
  recentProblems: () => ProblemLine[];
  /** agent.update, for every destination's commands; the outcome of the last update for the clouds' device state. */
  update: DestinationContext['update'];
  lastUpdate: DestinationContext['lastUpdate'];
  previousSessions?: DestinationContext['previousSessions'];
  now?: () => number;
}

export class Pipeline {
  readonly config: AgentConfig;
  /** Opens in start(); until then its stats() are empty. */
  readonly outbox: Outbox;
  readonly sources: Source[];
  /** Per sensor id: what decides which of its readings reach the outbox (its `report` section). */
  readonly reporters: ReadonlyMap<string, Reporter>;
  /** Where readings go, in config order; one for a config with a single `cloud`. */
  readonly destinations: Destination[];
  readonly health: HealthService;
  readonly #parts: PartList;

  constructor(config: AgentConfig, hooks: PipelineHooks) {
    const log = hooks.log;
    const now = hooks.now ?? Date.now;
    const synchronized = () => clockSynchronized(now());
    this.config = config;
    const clouds = destinationsOf(config);
    const outbox = new DeferredOutbox({
      dataDir: config.agent.dataDir,
      agentId: config.agent.id,
      config: config.outbox,
      log: log.child({ component: 'outbox' }),
      now,
      destinations: clouds.map((cloud) => {
        const wants = sensorFilter(cloud.sensors);
        return wants ? { id: cloud.id, wants } : { id: cloud.id };
      }),
    });
    this.outbox = outbox;
    const reporters = new Map<string, Reporter>();
    this.reporters = reporters;
    const wallTimers = { ...systemTimers, now };
    // The last reading each sensor took, for the status page: a reference kept, nothing copied.
    const lastReadings = new Map<string, Reading>();
    this.sources = config.sensors.map((sensor) => {
      const reporter = createReporter({ sensorId: sensor.id, config: sensor.report, emit: (reading) => void outbox.append(reading), timers: wallTimers, elapsed: () => performance.now() });
      reporters.set(sensor.id, reporter);
      const emit = (reading: Reading) => {
        lastReadings.set(sensor.id, reading);
        reporter.offer(reading);
      };
      return createSource(sensor, { log: log.child({ component: 'sensor', sensor: sensor.id }), emit, now, clockSynchronized: synchronized });
    });
    this.destinations = clouds.map(
      (cloud) =>
        new Destination(cloud, {
          config,
          outbox,
          log,
          now,
          clockSynchronized: synchronized,
          sources: () => this.sources,
          snapshot: hooks.snapshot,
          applyConfigChange: hooks.applyConfigChange,
          rawConfig: hooks.rawConfig,
          requestRestart: hooks.requestRestart,
          update: hooks.update,
          lastUpdate: hooks.lastUpdate,
          ...(hooks.previousSessions ? { previousSessions: hooks.previousSessions } : {}),
        }),
    );
    this.health = new HealthService({
      config: config.health,
      dataDir: config.agent.dataDir,
      snapshot: hooks.snapshot,
      emit: (reading) => void outbox.append(reading),
      log,
      page: { lastReadings: () => lastReadings, recentProblems: hooks.recentProblems },
    });

    // Started top to bottom, stopped bottom to top. What receives data starts before what sends
    // it, so at shutdown the sensors stop first and the links last long enough to send their last
    // readings.
    const parts: Part[] = [
      { name: 'outbox', start: () => outbox.open(), stop: () => outbox.close() },
      ...this.destinations.flatMap((destination) => destination.parts),
      // Commits what the sensors left, so the forwarders can send it while they drain.
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
