// One destination of the agent's readings: a cloud section's adapter, session, forwarder, command
// dispatcher and inbox, wired to the shared outbox under the destination's id. Each has its own
// credentials, reconnects, linger, rate limit and command allow list; the outbox keeps its
// progress, so a destination that is down, slow or refusing holds back none of the others.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { redactConfig } from './agent-config/redact.ts';
import type { AgentConfig, DestinationConfig } from './agent-config/schema.ts';
import type { CloudAdapter } from './cloud/adapter.ts';
import { createAdapter } from './cloud/adapters/index.ts';
import { FactsOnConnect } from './cloud/facts-on-connect.ts';
import { Forwarder } from './cloud/forwarder.ts';
import { Inbox, type ApplyConfigChange } from './cloud/inbox.ts';
import { ReplyLane } from './cloud/reply-lane.ts';
import { CloudSession } from './cloud/session.ts';
import { builtinHandlers } from './commands/builtins/index.ts';
import { sessionExpiryMs } from './commands/config.ts';
import { Dispatcher } from './commands/dispatcher.ts';
import type { UpdateRequests } from './commands/builtins/update-commands.ts';
import type { Command, CommandResult } from './commands/command.ts';
import type { Logger } from './log.ts';
import type { Outbox } from './outbox/outbox.ts';
import type { Part } from './part-list.ts';
import type { Source } from './sources/source.ts';
import type { StatusSnapshot } from './status/snapshot.ts';
import { AGENT_VERSION } from './version.ts';

export interface DestinationContext {
  config: AgentConfig;
  outbox: Outbox;
  log: Logger;
  now: () => number;
  clockSynchronized: () => boolean;
  sources: () => readonly Source[];
  snapshot: () => StatusSnapshot;
  applyConfigChange: ApplyConfigChange;
  rawConfig: () => unknown;
  requestRestart: (reason: string) => void;
  update: UpdateRequests;
  /** The last agent update's outcome, reported with the agent's facts (Azure: reported property agentUpdate). */
  lastUpdate: () => unknown;
  /** Per destination id: when the session it replaces ended, for a destination whose settings a reload kept. */
  previousSessions?: ReadonlyMap<string, number>;
}

/** Where a destination keeps its credentials and cloud state: the data dir itself for a single `cloud` (as always), `clouds/<id>` in it for each of several. */
export function destinationDataDir(config: Pick<AgentConfig, 'agent' | 'clouds'>, id: string): string {
  return config.clouds ? join(config.agent.dataDir, 'clouds', id) : config.agent.dataDir;
}

/** "boiler-*" and "pump-?" as a test on sensor ids; undefined (all sensors) without patterns. */
export function sensorFilter(patterns: readonly string[] | undefined): ((sensorId: string) => boolean) | undefined {
  if (!patterns) return undefined;
  const regexes = patterns.map((p) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\-]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`));
  return (sensorId) => regexes.some((r) => r.test(sensorId));
}

/**
 * A config push changes the agent as `config.set` does. With several destinations it is applied only
 * from one whose allow list names `config.set`, so a plant's broker or a second tenant cannot rewrite
 * the gateway. A single `cloud` applies its pushes as it always has (configs in the field rely on it).
 */
export function configPushRefusal(config: Pick<AgentConfig, 'clouds'>, id: string, allow: readonly string[]): string | undefined {
  if (!config.clouds || allow.includes('config.set')) return undefined;
  return `destination '${id}' may not change the config: add "config.set" to its commands.allow`;
}

export class Destination {
  readonly id: string;
  readonly provider: string;
  readonly adapter: CloudAdapter;
  readonly session: CloudSession;
  readonly forwarder: Forwarder;
  readonly dispatcher: Dispatcher;
  readonly inbox: Inbox;
  readonly #replies: ReplyLane;
  readonly #facts: FactsOnConnect;
  /** Started top to bottom, stopped bottom to top, between the outbox and the sensors. */
  readonly parts: Part[];

  constructor(cloud: DestinationConfig, ctx: DestinationContext) {
    const { config, outbox, now } = ctx;
    this.id = cloud.id;
    this.provider = cloud.provider;
    // Several destinations: each one's lines say which.
    const log = config.clouds ? ctx.log.child({ destination: cloud.id }) : ctx.log;
    const dataDir = destinationDataDir(config, cloud.id);
    this.adapter = createAdapter(cloud, {
      agentId: config.agent.id,
      agentVersion: AGENT_VERSION,
      dataDir,
      log: log.child({ component: 'cloud', provider: cloud.provider }),
      now,
      clockSynchronized: ctx.clockSynchronized,
    });
    this.session = new CloudSession({
      adapter: this.adapter,
      log,
      connectTimeoutMs: cloud.connectTimeout,
      reconnectMaxMs: cloud.reconnectMax,
      sessionExpiryMs: sessionExpiryMs(config.commands),
      now,
      ...(ctx.previousSessions?.has(cloud.id) ? { previousSessionEndedAt: ctx.previousSessions.get(cloud.id)! } : {}),
    });
    this.forwarder = new Forwarder({
      outbox,
      destination: cloud.id,
      session: this.session,
      adapter: this.adapter,
      log,
      inFlight: cloud.inFlight,
      batchSize: cloud.batchSize,
      lingerMs: cloud.linger ?? this.adapter.defaultLingerMs,
      ...(cloud.rateLimit !== undefined ? { rateLimit: cloud.rateLimit } : {}),
      order: config.outbox.order,
      now,
    });
    // What this destination may run: its own list, or the agent's.
    const allow = cloud.commands?.allow ?? config.commands.allow;
    this.dispatcher = new Dispatcher({
      handlers: builtinHandlers({
        snapshot: ctx.snapshot,
        config,
        rawConfig: ctx.rawConfig,
        redactConfig,
        applyConfigChange: ctx.applyConfigChange,
        sources: ctx.sources,
        outbox,
        requestRestart: ctx.requestRestart,
        update: ctx.update,
        log,
      }),
      destination: cloud.id,
      allow,
      timeoutMs: config.commands.timeout,
      maxConcurrent: config.commands.maxConcurrent,
      rate: config.commands.rate,
      ...(config.commands.maxAge !== 'off' ? { maxAgeMs: config.commands.maxAge } : {}),
      clockSynchronized: ctx.clockSynchronized,
      log,
      now,
    });
    this.#replies = new ReplyLane({ session: this.session, outbox: { appendReserved: (body) => outbox.appendReserved(body, cloud.id) } });
    this.inbox = new Inbox({
      session: this.session,
      adapter: this.adapter,
      dispatcher: this.dispatcher,
      // Replies wait in the outbox for this destination only: answered where the command came from.
      replies: this.#replies,
      applyConfigChange: ctx.applyConfigChange,
      configPushRefusal: configPushRefusal(config, cloud.id, allow),
      log,
      now,
    });
    const facts = new FactsOnConnect({
      session: this.session,
      adapter: this.adapter,
      facts: () => {
        const stats = outbox.stats();
        const lastUpdate = ctx.lastUpdate();
        return { agentVersion: AGENT_VERSION, link: 'connected', outboxPending: stats.destinations?.[cloud.id]?.pending ?? stats.pending, configVersion: config.version, agentId: config.agent.id, ...(lastUpdate ? { agentUpdate: lastUpdate } : {}) };
      },
    });
    this.#facts = facts;
    const name = config.clouds ? ` ${cloud.id}` : '';
    this.parts = [
      // Registered credentials and remembered cloud settings of its own (two Xyte accounts must not share a file).
      ...(dataDir === config.agent.dataDir ? [] : [{ name: `data dir${name}`, start: () => void mkdirSync(dataDir, { recursive: true, mode: 0o700 }) }]),
      // Listening before the link comes up, so nothing the broker kept for us goes unheard.
      { name: `inbox${name}`, start: () => this.inbox.start(), stop: () => this.inbox.stop() },
      { name: `facts${name}`, start: () => facts.start(), stop: () => facts.stop() },
      { name: `cloud link${name}`, start: () => this.session.start(), stop: () => Promise.race([this.session.stop(), new Promise((r) => setTimeout(r, 2000).unref())]) },
      { name: `forwarder${name}`, start: () => this.forwarder.start(), stop: () => this.forwarder.stop() },
      // Give in-flight messages a moment to be acknowledged; what is not stays in the outbox.
      { name: `forwarder drain${name}`, stop: () => Promise.race([this.forwarder.drained(), new Promise((r) => setTimeout(r, 1000).unref())]) },
    ];
  }

  /**
   * The outcome of a command answered 202 earlier, perhaps by the previous run of the agent: in this
   * destination's reply format, sent now or kept in the outbox's reserved lane until the link is up.
   */
  reportLate(command: Pick<Command, 'id' | 'name' | 'origin' | 'replyTo'>, result: CommandResult): void {
    // The params were answered long ago; the adapter needs only the address.
    this.#replies.send(this.adapter.encodeReply({ ...command, params: undefined }, { ...result, late: true }));
    // Clouds that keep device state hear the new outcome now, not at the next connect.
    if (this.session.connected) this.#facts.publishNow();
  }
}
