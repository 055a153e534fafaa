// One dispatcher for every cloud: look the command up, check it is allowed, validate its params,
// run it with a timeout and a concurrency limit, and answer replays of the same id from memory.
import type { Logger } from '../log.ts';
import type { Command, CommandDispatcher, CommandResult } from './command.ts';
import { CommandFailure, type CommandHandler } from './handler.ts';
import type { CommandStats } from '../status/snapshot.ts';

export interface DispatcherOptions {
  handlers: CommandHandler[];
  /** Names the cloud may run. Everything else is refused with 403. */
  allow: readonly string[];
  timeoutMs: number;
  maxConcurrent?: number;
  /** Replays of an id within this window get the first result again, without running twice. */
  replayWindowMs?: number;
  log: Logger;
  now?: () => number;
}

const MAX_REMEMBERED = 1000;

export class Dispatcher implements CommandDispatcher {
  readonly #handlers = new Map<string, CommandHandler>();
  readonly #allow: Set<string>;
  readonly #o: Required<Omit<DispatcherOptions, 'handlers' | 'allow' | 'log'>>;
  readonly #log: Logger;
  readonly #results = new Map<string, { at: number; result: Promise<CommandResult> }>();
  readonly #stats: CommandStats = { received: 0, succeeded: 0, failed: 0, refused: 0, running: 0 };

  constructor(options: DispatcherOptions) {
    for (const handler of options.handlers) this.#handlers.set(handler.name, handler);
    this.#allow = new Set(options.allow);
    this.#log = options.log.child({ component: 'commands' });
    this.#o = { timeoutMs: options.timeoutMs, maxConcurrent: options.maxConcurrent ?? 4, replayWindowMs: options.replayWindowMs ?? 10 * 60_000, now: options.now ?? Date.now };
  }

  stats(): CommandStats {
    return { ...this.#stats };
  }

  dispatch(command: Command): Promise<CommandResult> {
    this.#stats.received++;
    const key = `${command.origin}:${command.id}`;
    const now = this.#o.now();
    const previous = this.#results.get(key);
    if (previous && now - previous.at < this.#o.replayWindowMs) {
      this.#log.info({ event: 'command-replayed', id: command.id, name: command.name }, `command ${command.id} (${command.name}) was delivered again: answering with its first result`);
      return previous.result;
    }
    const result = this.#run(command);
    this.#remember(key, now, result);
    return result;
  }

  async #run(command: Command): Promise<CommandResult> {
    const audit = { event: 'command', id: command.id, name: command.name, origin: command.origin };
    const handler = this.#handlers.get(command.name);
    if (!handler) return this.#refuse(audit, 404, `unknown command "${command.name}"; known: ${[...this.#handlers.keys()].sort().join(', ')}`);
    if (!this.#allow.has(command.name)) return this.#refuse(audit, 403, `command "${command.name}" is not allowed on this gateway (add it to commands.allow in the config)`);
    if (this.#stats.running >= this.#o.maxConcurrent) return this.#refuse(audit, 429, `busy: ${this.#stats.running} commands are running; try again shortly`);
    const parsed = handler.params.safeParse(command.params ?? {});
    if (!parsed.success) {
      const reason = parsed.error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : 'params'}: ${i.message}`).join('; ');
      return this.#refuse(audit, 400, `invalid params for "${command.name}": ${reason}`);
    }
    this.#stats.running++;
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const started = this.#o.now();
    try {
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          // Reject first: a handler that settles on abort must not win the race.
          reject(new CommandFailure(408, `"${command.name}" did not finish within ${this.#o.timeoutMs} ms`));
          controller.abort();
        }, this.#o.timeoutMs);
      });
      const data = await Promise.race([handler.run(parsed.data, { log: this.#log, signal: controller.signal }), timeout]);
      this.#stats.succeeded++;
      this.#log.info({ ...audit, outcome: 'ok', ms: this.#o.now() - started }, `command ${command.name} succeeded`);
      return { ok: true, status: 200, data };
    } catch (error) {
      this.#stats.failed++;
      const status = error instanceof CommandFailure ? error.status : 500;
      const message = error instanceof Error ? error.message : String(error);
      this.#log.warn({ ...audit, outcome: 'failed', status, ms: this.#o.now() - started, reason: message }, `command ${command.name} failed: ${message}`);
      return { ok: false, status, message };
    } finally {
      clearTimeout(timer);
      this.#stats.running--;
    }
  }

  #refuse(audit: Record<string, unknown>, status: number, message: string): Promise<CommandResult> {
    this.#stats.refused++;
    this.#log.warn({ ...audit, outcome: 'refused', status, reason: message }, `command refused: ${message}`);
    return Promise.resolve({ ok: false, status, message });
  }

  #remember(key: string, at: number, result: Promise<CommandResult>): void {
    this.#results.set(key, { at, result });
    if (this.#results.size <= MAX_REMEMBERED) return;
    // Maps iterate in insertion order: the first key is the oldest.
    const oldest = this.#results.keys().next().value;
    if (oldest !== undefined) this.#results.delete(oldest);
  }
}
