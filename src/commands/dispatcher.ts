// One dispatcher for every cloud: admit the command under the rate, look it up, check it is
// allowed and fresh, validate its params, run it with a timeout and a concurrency limit, and
// answer replays of the same id from memory. Everything in a command came from the network, so
// nothing of it is echoed, logged or kept without a bound (issue #16).
import { clockSynchronized } from '../clock.ts';
import { RateLimitedLog, type Logger } from '../log.ts';
import { COMMAND_LIMITS, type Command, type CommandDispatcher, type CommandResult, type DispatchHooks } from './command.ts';
import { CommandGate, type CommandRate } from './command-gate.ts';
import { CommandAccepted, CommandFailure, type CommandHandler } from './handler.ts';
import { paramBoundsViolation } from './param-bounds.ts';
import { ReplayCache, type ReplayCacheOptions } from './replay-cache.ts';
import { echoUntrusted } from '../untrusted-text.ts';
import type { CommandStats } from '../status/snapshot.ts';

export interface DispatcherOptions {
  handlers: CommandHandler[];
  /** The destination these commands arrive on: a handler that answers later hands it back. */
  destination?: string;
  /** Names the cloud may run. Everything else is refused with 403. */
  allow: readonly string[];
  timeoutMs: number;
  maxConcurrent?: number;
  /**
   * Commands that may wait for one of the maxConcurrent slots (default: the rate's burst). A
   * persistent session hands over everything queued during a blip in one read; past this, 429.
   */
  maxWaiting?: number;
  /** Commands admitted per second (with a burst); as many again are answered 429, the rest dropped. */
  rate?: CommandRate;
  /** A command whose sentAt is longer ago than this is refused with 410; undefined: no limit. */
  maxAgeMs?: number;
  /** Replays of an id within this window get the first result again, without running twice. */
  replayWindowMs?: number;
  replayCache?: Partial<Omit<ReplayCacheOptions, 'windowMs'>>;
  log: Logger;
  now?: () => number;
  /** False while the gateway clock is evidently wrong: a command's age cannot be told then. */
  clockSynchronized?: () => boolean;
}

export const DEFAULT_COMMAND_RATE: CommandRate = { perSecond: 10, burst: 32 };

/** A 404 lists what the caller may run, but not a thousand scripts. */
const MAX_LISTED_NAMES = 20;
/** Validation reasons quote the schema's messages, which may quote the input: cut the whole. */
const MAX_REASON_CHARS = 512;
/** Params nested deeper are refused before validation (the decoders refuse deeper JSON already). */
const MAX_PARAM_DEPTH = 32;

export class Dispatcher implements CommandDispatcher {
  readonly #handlers = new Map<string, CommandHandler>();
  readonly #allow: Set<string>;
  readonly #timeoutMs: number;
  readonly #maxConcurrent: number;
  readonly #maxWaiting: number;
  /** Commands admitted and waiting for a slot, oldest first. */
  readonly #waiting: (() => void)[] = [];
  readonly #maxAgeMs: number | undefined;
  readonly #now: () => number;
  readonly #clockSynchronized: () => boolean;
  readonly #log: Logger;
  readonly #destination: string;
  readonly #gate: CommandGate;
  readonly #replays: ReplayCache;
  readonly #rateLog = new RateLimitedLog(60_000);
  readonly #stats: CommandStats = { received: 0, succeeded: 0, failed: 0, refused: 0, running: 0 };
  #warnedClock = false;

  constructor(options: DispatcherOptions) {
    for (const handler of options.handlers) this.#handlers.set(handler.name, handler);
    this.#allow = new Set(options.allow);
    this.#log = options.log.child({ component: 'commands' });
    this.#destination = options.destination ?? 'cloud';
    this.#timeoutMs = options.timeoutMs;
    this.#maxConcurrent = options.maxConcurrent ?? 4;
    this.#maxWaiting = options.maxWaiting ?? (options.rate ?? DEFAULT_COMMAND_RATE).burst;
    this.#maxAgeMs = options.maxAgeMs;
    this.#now = options.now ?? Date.now;
    const now = this.#now;
    this.#clockSynchronized = options.clockSynchronized ?? (() => clockSynchronized(now()));
    this.#gate = new CommandGate(options.rate ?? DEFAULT_COMMAND_RATE, now());
    this.#replays = new ReplayCache({ ...options.replayCache, ...(options.replayWindowMs !== undefined ? { windowMs: options.replayWindowMs } : {}) });
  }

  stats(): CommandStats {
    return { ...this.#stats };
  }

  /** Commands dropped without a reply because they came faster than twice the rate (also counted as refused). */
  dropped(): number {
    return this.#gate.dropped();
  }

  replayCacheSize(): { entries: number; bytes: number } {
    return this.#replays.size();
  }

  dispatch(command: Command, hooks: DispatchHooks = {}): Promise<CommandResult | undefined> {
    this.#stats.received++;
    const now = this.#now();
    const admission = this.#gate.admit(now);
    if (admission !== 'run') return Promise.resolve(this.#overRate(admission, now));
    hooks.accepted?.();
    const name = echoUntrusted(command.name);
    const audit = { event: 'command', id: echoUntrusted(command.id), name, origin: command.origin };
    if (command.name.length > COMMAND_LIMITS.nameChars) return this.#refuse(audit, 400, `the command name "${name}" is longer than ${COMMAND_LIMITS.nameChars} characters`);
    if (command.id.length > COMMAND_LIMITS.idChars) return this.#refuse(audit, 400, `the command id "${audit.id}" is longer than ${COMMAND_LIMITS.idChars} characters`);
    const key = `${command.origin}:${command.id}`;
    const previous = this.#replays.get(key, now);
    if (previous) {
      this.#log.info({ ...audit, event: 'command-replayed' }, `command ${audit.id} (${name}) was delivered again: answering with its first result`);
      return previous;
    }
    const stale = this.#staleness(command, now);
    if (stale) return this.#refuse(audit, 410, stale);
    const checked = this.#check(command, name);
    if ('status' in checked) return this.#refuse(audit, checked.status, checked.message);
    if (this.#stats.running >= this.#maxConcurrent && this.#waiting.length >= this.#maxWaiting) {
      return this.#refuse(audit, 429, `busy: ${this.#stats.running} commands are running and ${this.#waiting.length} waiting; try again shortly`);
    }
    // Only a command that starts is remembered: a refusal costs nothing to give again, and a flood
    // of refused commands then leaves the cache alone.
    const result = this.#run(command, checked.handler, checked.params, audit);
    this.#replays.remember(key, now, result);
    return result;
  }

  /**
   * A message that could not be read as a command is answered like one (400), so it passes the same
   * gate. False: over the rate, drop it without a reply.
   */
  admitUnreadable(): boolean {
    const now = this.#now();
    const admission = this.#gate.admit(now);
    if (admission === 'run') return true;
    this.#overRate(admission, now);
    return admission === 'refuse';
  }

  #overRate(admission: 'refuse' | 'drop', now: number): CommandResult | undefined {
    this.#stats.refused++;
    const suppressed = this.#rateLog.admit(admission, now);
    if (admission === 'refuse') {
      if (suppressed >= 0) this.#log.warn({ event: 'command-rate-limited', suppressed }, `commands arrive faster than commands.rate; answering 429 (${suppressed} more since the last such line)`);
      return { ok: false, status: 429, message: 'too many commands: over commands.rate on this gateway; try again shortly' };
    }
    if (suppressed >= 0) this.#log.warn({ event: 'command-flood-dropped', dropped: this.#gate.dropped(), suppressed }, `commands arrive faster than twice commands.rate: dropping them without a reply (${this.#gate.dropped()} dropped so far)`);
    return undefined;
  }

  /** Why the command is too old to run, or undefined when it is not (or its age cannot be told). */
  #staleness(command: Command, now: number): string | undefined {
    if (this.#maxAgeMs === undefined || command.sentAt === undefined) return undefined;
    if (!this.#clockSynchronized()) {
      if (!this.#warnedClock) {
        this.#warnedClock = true;
        this.#log.info({ event: 'command-age-unchecked' }, 'the gateway clock is not synchronised: commands are run without checking commands.maxAge until it is');
      }
      return undefined;
    }
    this.#warnedClock = false;
    const age = now - command.sentAt;
    if (age <= this.#maxAgeMs) return undefined;
    return `the command was sent ${formatAge(age)} ago, longer than commands.maxAge (${formatAge(this.#maxAgeMs)}); it was not run`;
  }

  #check(command: Command, name: string): { handler: CommandHandler; params: unknown } | { status: number; message: string } {
    const handler = this.#handlers.get(command.name);
    if (!handler) return { status: 404, message: `unknown command "${name}"; allowed here: ${this.#allowedNames()}` };
    if (!this.#allow.has(command.name)) return { status: 403, message: `command "${name}" is not allowed on this gateway (add it to commands.allow in the config)` };
    const params = command.params ?? {};
    const violation = paramBoundsViolation(params, { maxKeyChars: COMMAND_LIMITS.paramKeyChars, maxDepth: MAX_PARAM_DEPTH });
    if (violation) return { status: 400, message: `invalid params for "${name}": ${violation}` };
    const parsed = handler.params.safeParse(params);
    if (!parsed.success) {
      const reason = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.map((p) => echoUntrusted(String(p))).join('.') : 'params'}: ${i.message}`).join('; ');
      return { status: 400, message: `invalid params for "${name}": ${echoUntrusted(reason, MAX_REASON_CHARS)}` };
    }
    return { handler, params: parsed.data };
  }

  /** Only what commands.allow permits: the rest of the handlers are none of the caller's business. */
  #allowedNames(): string {
    const names = [...this.#handlers.keys()].filter((n) => this.#allow.has(n)).sort();
    if (names.length === 0) return 'none';
    const listed = names.slice(0, MAX_LISTED_NAMES).join(', ');
    return names.length > MAX_LISTED_NAMES ? `${listed} and ${names.length - MAX_LISTED_NAMES} more` : listed;
  }

  async #run(command: Command, handler: CommandHandler, params: unknown, audit: Record<string, unknown> & { name: string }): Promise<CommandResult> {
    if (this.#stats.running < this.#maxConcurrent && this.#waiting.length === 0) this.#stats.running++;
    else if (!(await this.#slot())) {
      this.#stats.refused++;
      const message = `busy: ${this.#maxConcurrent} commands kept running for ${this.#timeoutMs} ms; try again shortly`;
      this.#log.warn({ ...audit, outcome: 'refused', status: 429, reason: message }, `command refused: ${message}`);
      return { ok: false, status: 429, message };
    }
    // Here this command holds a slot: its own, or one a finished command handed over (still counted in running).
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const started = this.#now();
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // Reject first: a handler that settles on abort must not win the race.
          reject(new CommandFailure(408, `"${audit.name}" did not finish within ${this.#timeoutMs} ms`));
          controller.abort();
        }, this.#timeoutMs);
      });
      const requester = { destination: this.#destination, command: { id: command.id, name: command.name, origin: command.origin, replyTo: command.replyTo } };
      const data = await Promise.race([handler.run(params, { log: this.#log, signal: controller.signal, requester }), timeout]);
      this.#stats.succeeded++;
      if (data instanceof CommandAccepted) {
        this.#log.info({ ...audit, outcome: 'accepted', ms: this.#now() - started }, `command ${audit.name} accepted: its outcome follows`);
        return { ok: true, status: 202, data: data.data };
      }
      this.#log.info({ ...audit, outcome: 'ok', ms: this.#now() - started }, `command ${audit.name} succeeded`);
      return { ok: true, status: 200, data };
    } catch (error) {
      this.#stats.failed++;
      const status = error instanceof CommandFailure ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      this.#log.warn({ ...audit, outcome: 'failed', status, ms: this.#now() - started, reason: message }, `command ${audit.name} failed: ${message}`);
      return { ok: false, status, message };
    } finally {
      clearTimeout(timer);
      // The slot goes straight to the oldest waiting command, so one arriving meanwhile cannot take it.
      const next = this.#waiting.shift();
      if (next) next();
      else this.#stats.running--;
    }
  }

  /** Waits for a running command to finish: true with a slot, false when none came within the command timeout. */
  #slot(): Promise<boolean> {
    return new Promise((resolve) => {
      const take = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        const index = this.#waiting.indexOf(take);
        if (index >= 0) this.#waiting.splice(index, 1);
        resolve(false);
      }, this.#timeoutMs);
      this.#waiting.push(take);
    });
  }

  #refuse(audit: Record<string, unknown>, status: number, message: string): Promise<CommandResult> {
    this.#stats.refused++;
    this.#log.warn({ ...audit, outcome: 'refused', status, reason: message }, `command refused: ${message}`);
    return Promise.resolve({ ok: false, status, message });
  }
}

/** "2h 5m", "45s", "850ms": how an operator reads an age. */
function formatAge(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  const parts = [Math.floor(s / 86_400) && `${Math.floor(s / 86_400)}d`, Math.floor((s % 86_400) / 3600) && `${Math.floor((s % 86_400) / 3600)}h`, Math.floor((s % 3600) / 60) && `${Math.floor((s % 3600) / 60)}m`, s % 60 && `${s % 60}s`];
  return parts.filter(Boolean).join(' ') || '0s';
}
