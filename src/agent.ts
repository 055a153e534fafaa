// The agent: owns the running pipeline, the status socket, reloads (SIGHUP, config changes from the
// cloud) and the snapshot every status view reads.
import { copyFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { loadConfigFile, validateConfigObject, type LoadedConfig } from './agent-config/load.ts';
import { destinationsOf, type AgentConfig } from './agent-config/schema.ts';
import { clockSynchronized } from './clock.ts';
import { cloudLinkWarnings } from './cloud/adapters/index.ts';
import { logLinkWarnings } from './cloud/link-warnings.ts';
import { mergeConfig, replaceConfigFile, sameConfig } from './config/write.ts';
import { ensureDataDir } from './data-dir.ts';
import { ConfigError } from './errors.ts';
import type { Logger } from './log.ts';
import type { ProblemLine } from './health/page-data.ts';
import { Pipeline } from './pipeline.ts';
import { startLocalApi, statusSocketPath } from './status/local-api.ts';
import type { OutboxStats } from './outbox/outbox.ts';
import type { DestinationStatus, SensorStatus, StatusSnapshot } from './status/snapshot.ts';
import { AGENT_VERSION } from './version.ts';
import { storageWrittenBytes } from './status/storage-writes.ts';
import { isSingleBinary } from './update/launch.ts';
import type { UpdateReport } from './update/state.ts';
import { Updater } from './update/updater.ts';

const RECENT_ERRORS = 10;
const RECENT_PROBLEMS = 50;
/** EX_TEMPFAIL: "try again"; systemd restarts the agent (Restart=on-failure). */
export const RESTART_EXIT_CODE = 75;

export class Agent {
  #loaded: LoadedConfig;
  #pipeline: Pipeline | undefined;
  #api: Server | undefined;
  #updater: Updater | undefined;
  readonly #log: Logger;
  readonly #startedAt = Date.now();
  readonly #recentErrors: StatusSnapshot['recentErrors'] = [];
  readonly #recentProblems: ProblemLine[] = [];
  #reloading: Promise<void> = Promise.resolve();

  constructor(loaded: LoadedConfig, log: Logger) {
    this.#loaded = loaded;
    this.#log = log;
  }

  get config() {
    return this.#loaded.config;
  }

  /** Called by the logger for every warning and error, so the status page can show the last 50. */
  recordProblem(level: ProblemLine['level'], message: string, fields: Record<string, unknown>): void {
    this.#recentProblems.unshift({ at: Date.now(), level, component: typeof fields.component === 'string' ? fields.component : 'agent', message });
    this.#recentProblems.length = Math.min(this.#recentProblems.length, RECENT_PROBLEMS);
  }

  /** Called by the logger for every error-level event, so status can show the last few. */
  recordError(message: string, fields: Record<string, unknown>): void {
    this.#recentErrors.unshift({ at: Date.now(), component: typeof fields.component === 'string' ? fields.component : 'agent', message });
    this.#recentErrors.length = Math.min(this.#recentErrors.length, RECENT_ERRORS);
  }

  async start(): Promise<void> {
    ensureDataDir(this.config.agent.dataDir, this.#log);
    const updater = new Updater({
      config: this.config.update,
      dataDir: this.config.agent.dataDir,
      log: this.#log.child({ component: 'update' }),
      report: (report) => this.#reportLate(report),
      requestRestart: (reason) => this.requestRestart(reason),
      selfPath: isSingleBinary() ? process.execPath : undefined,
    });
    this.#updater = updater;
    this.#pipeline = this.#build(this.#loaded);
    await this.#pipeline.start();
    // After the outbox and the links: owed outcomes go out through them, and a trial's gate watches them.
    updater.start();
    if (this.#pipeline.destinations.some((d) => d.session.connected)) updater.linkUp();
    this.#api = await startLocalApi(statusSocketPath(this.config.agent.dataDir), () => this.snapshot());
    const destinations = destinationsOf(this.config);
    this.#log.info(
      {
        event: 'started',
        version: AGENT_VERSION,
        config: this.#loaded.file,
        provider: this.config.cloud.provider,
        sensors: this.config.sensors.length,
        ...(this.config.clouds ? { destinations: destinations.map((d) => `${d.id}:${d.provider}`) } : {}),
      },
      `edge-agent ${AGENT_VERSION} running: ${this.config.sensors.length} sensor(s) -> ${destinations.map((d) => (this.config.clouds ? `${d.id} (${d.provider})` : d.provider)).join(', ')}`,
    );
    this.#logLinkWarnings(this.config);
  }

  async stop(): Promise<void> {
    this.#updater?.stop();
    await this.#reloading;
    await this.#pipeline?.stop();
    this.#pipeline = undefined;
    await new Promise<void>((resolve) => (this.#api ? this.#api.close(() => resolve()) : resolve()));
    this.#api = undefined;
  }

  /** SIGHUP: read the file again; a broken file is refused and the running config stays. */
  reload(): Promise<void> {
    this.#reloading = this.#reloading.then(async () => {
      let next: LoadedConfig;
      try {
        next = loadConfigFile(this.#loaded.file);
      } catch (error) {
        if (error instanceof ConfigError) {
          this.#log.error({ event: 'reload-refused', problems: error.problems }, `config reload refused; still running the previous config.\n${error.message}`);
          return;
        }
        throw error;
      }
      await this.#swap(next);
    });
    return this.#reloading;
  }

  /** A partial config from the cloud (config.set, Azure desired properties, Xyte config push). */
  applyConfigChange(patch: unknown, origin: string): Promise<{ applied: boolean; message?: string; config?: unknown }> {
    const merged = mergeConfig(this.#loaded.raw, patch);
    // Whom the gateway trusts for binaries is decided on the gateway: a cloud account that can push
    // config must not be able to add its own signing key and then send a binary signed with it.
    const trust = (raw: unknown) => {
      const update = (raw as { update?: { publicKeys?: unknown; tls?: unknown } } | null)?.update;
      return { publicKeys: update?.publicKeys, tls: update?.tls };
    };
    if (!sameConfig(trust(merged), trust(this.#loaded.raw))) {
      const message = 'update.publicKeys and update.tls can only be changed in the config file on the gateway, not from the cloud';
      this.#log.warn({ event: 'config-change-refused', origin, reason: message }, `config change from ${origin} refused: ${message}`);
      return Promise.resolve({ applied: false, message });
    }
    try {
      validateConfigObject(merged, `config change from ${origin}`);
    } catch (error) {
      const message = error instanceof ConfigError ? error.problems.map((p) => `${p.path}: ${p.message}`).join('; ') : String(error);
      this.#log.warn({ event: 'config-change-refused', origin, reason: message }, `config change from ${origin} refused: ${message}`);
      return Promise.resolve({ applied: false, message });
    }
    // A push that changes nothing (a cloud resending the same settings) must not rewrite the SD card or reload.
    if (sameConfig(merged, this.#loaded.raw)) return Promise.resolve({ applied: true, config: merged });
    const backup = replaceConfigFile(this.#loaded.file, `${JSON.stringify(merged, null, 2)}\n`);
    this.#log.info({ event: 'config-changed', origin }, `config changed by ${origin}; previous file kept as ${backup ?? '(none)'}`);
    const touchesCloud = typeof patch === 'object' && patch !== null && ('cloud' in patch || 'clouds' in patch);
    // Reload after the reply is sent: the reply travels on the connection the reload will replace.
    setTimeout(() => {
      void this.reload().then(() => {
        if (touchesCloud && backup) this.#rollBackUnlessConnected(backup, origin);
      });
    }, 200).unref();
    return Promise.resolve({ applied: true, config: merged });
  }

  /** New cloud settings that cannot connect would cut the gateway off for good: put the old file back. */
  #rollBackUnlessConnected(backup: string, origin: string): void {
    const deadline = Date.now() + this.config.commands.configRollbackAfter;
    const check = setInterval(() => {
      // One destination connected is enough: the gateway can be reached and corrected through it.
      if (this.#pipeline?.destinations.some((d) => d.session.connected)) {
        clearInterval(check);
        return;
      }
      if (Date.now() < deadline) return;
      clearInterval(check);
      this.#log.error({ event: 'config-rolled-back', origin }, `the config from ${origin} could not connect to the cloud within ${this.config.commands.configRollbackAfter / 1000} s: restoring the previous config`);
      copyFileSync(backup, this.#loaded.file);
      void this.reload();
    }, 1000);
    check.unref();
  }

  requestRestart(reason: string): void {
    this.#log.warn({ event: 'restart-requested', reason }, `restarting: ${reason}`);
    // After the reply has gone out; exit code 75 (EX_TEMPFAIL) makes systemd's Restart=on-failure start us again.
    setTimeout(() => {
      void this.stop().finally(() => {
        this.#log.flush();
        process.exit(RESTART_EXIT_CODE);
      });
    }, 500).unref();
  }

  snapshot(): StatusSnapshot {
    const pipeline = this.#pipeline;
    const now = Date.now();
    const outbox = pipeline?.outbox.stats();
    const sensors: Record<string, SensorStatus> = {};
    for (const source of pipeline?.sources ?? []) {
      const reporter = pipeline?.reporters.get(source.id);
      sensors[source.id] = { type: source.type, ...source.stats(), report: reporter?.mode ?? 'every', reported: reporter?.reported ?? 0 };
    }
    return {
      agentId: this.config.agent.id,
      version: AGENT_VERSION,
      pid: process.pid,
      startedAt: this.#startedAt,
      now,
      configFile: this.#loaded.file,
      configVersion: this.config.version,
      clockSynchronized: clockSynchronized(now),
      link: pipeline
        ? { ...pipeline.destinations[0]!.session.status(), ...pipeline.destinations[0]!.forwarder.stats() }
        : { provider: this.config.cloud.provider, endpoint: '', state: 'stopped', since: now, lastConnectedAt: null, reconnects: 0, nextAttemptAt: null, lastError: null, lastErrorAt: null, inFlight: 0, publishedReadings: 0, publishedMessages: 0, bytesSent: 0, publishRate: 0, refusedMessages: 0, refusing: null },
      outbox: outbox ?? { pending: 0, pendingReserved: 0, leased: 0, oldestTs: null, bytes: 0, maxBytes: this.config.outbox.maxBytes, dropped: {}, lastSeq: 0, committedSeq: 0, commits: 0, diskFull: false },
      sensors,
      ...(pipeline && pipeline.destinations.length > 1 ? { destinations: destinationStatus(pipeline, outbox!) } : {}),
      commands: pipeline ? commandStats(pipeline) : { received: 0, succeeded: 0, failed: 0, refused: 0, running: 0 },
      storageWrittenBytes: storageWrittenBytes(),
      ...(this.#updater ? { update: this.#updater.status() } : {}),
      recentErrors: [...this.#recentErrors],
    };
  }

  async #swap(next: LoadedConfig): Promise<void> {
    this.#log.info({ event: 'reloading', config: next.file }, 'config changed: restarting the pipeline with it');
    const previous = this.#pipeline;
    await previous?.stop();
    const previousSessions = previous ? resumableSessions(previous, this.config, next.config) : undefined;
    this.#loaded = next;
    this.#log.level = next.config.agent.logLevel;
    ensureDataDir(next.config.agent.dataDir, this.#log);
    this.#pipeline = this.#build(next, previousSessions);
    await this.#pipeline.start();
    this.#log.info({ event: 'reloaded' }, 'config reloaded');
    this.#logLinkWarnings(next.config);
  }

  #logLinkWarnings(config: AgentConfig): void {
    for (const destination of destinationsOf(config)) logLinkWarnings(config.clouds ? this.#log.child({ destination: destination.id }) : this.#log, cloudLinkWarnings(destination));
  }

  #build(loaded: LoadedConfig, previousSessions?: ReadonlyMap<string, number>): Pipeline {
    this.#updater?.configure(loaded.config.update);
    const pipeline = new Pipeline(loaded.config, {
      log: this.#log,
      snapshot: () => this.snapshot(),
      applyConfigChange: (patch, origin) => this.applyConfigChange(patch, origin),
      rawConfig: () => this.#loaded.raw,
      requestRestart: (reason) => this.requestRestart(reason),
      recentProblems: () => [...this.#recentProblems],
      update: { request: (params, requester) => this.#updater!.request(params, requester) },
      lastUpdate: () => this.#updater?.lastOutcome(),
      ...(previousSessions ? { previousSessions } : {}),
    });
    // An update on trial is confirmed by the first cloud that connects.
    for (const destination of pipeline.destinations) destination.session.on('connected', () => this.#updater?.linkUp());
    return pipeline;
  }

  /** An update's outcome goes back to the destination its command came from, in that cloud's reply format. */
  #reportLate(report: UpdateReport): boolean {
    const destination = this.#pipeline?.destinations.find((d) => d.id === report.destination);
    if (!destination) return false;
    destination.reportLate(report.command, report.result);
    return true;
  }
}

/**
 * Destinations a reload leaves as they were keep their broker session: the commands an operator
 * sent while the pipeline restarted (config.set's own reload) wait in it. A destination whose
 * settings changed starts afresh, as at process start: its broker may hold an old session.
 */
function resumableSessions(previous: Pipeline, before: AgentConfig, after: AgentConfig): Map<string, number> {
  const kept = new Map<string, number>();
  const settingsBefore = new Map(destinationsOf(before).map((d) => [d.id, d]));
  for (const destination of destinationsOf(after)) {
    const endedAt = previous.destinations.find((d) => d.id === destination.id)?.session.lastConnectedUntil;
    if (endedAt != null && sameConfig(settingsBefore.get(destination.id), destination)) kept.set(destination.id, endedAt);
  }
  return kept;
}

/** Commands over every destination: one count for the operator, whichever cloud they came from. */
function commandStats(pipeline: Pipeline): StatusSnapshot['commands'] {
  const total = { received: 0, succeeded: 0, failed: 0, refused: 0, running: 0, dropped: 0 };
  for (const d of pipeline.destinations) {
    const stats = d.dispatcher.stats();
    total.received += stats.received;
    total.succeeded += stats.succeeded;
    total.failed += stats.failed;
    total.refused += stats.refused;
    total.running += stats.running;
    total.dropped += d.dispatcher.dropped() + d.inbox.droppedIncoming() + d.session.droppedIncoming();
  }
  return total;
}

function destinationStatus(pipeline: Pipeline, outbox: OutboxStats): Record<string, DestinationStatus> {
  const out: Record<string, DestinationStatus> = {};
  for (const d of pipeline.destinations) {
    const side = outbox.destinations?.[d.id];
    out[d.id] = { ...d.session.status(), ...d.forwarder.stats(), pending: side?.pending ?? 0, oldestTs: side?.oldestTs ?? null, dropped: side?.dropped ?? 0 };
  }
  return out;
}
