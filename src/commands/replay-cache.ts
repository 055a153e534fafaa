// The results of commands that ran, kept so a redelivered id (QoS 1 after a reconnect, a cloud
// retrying) is answered again without running twice. Bounded by count AND bytes: by count alone,
// 1,000 results of a script's 1 MB output would be 1 GB.
import type { CommandResult } from './command.ts';

export interface ReplayCacheOptions {
  maxEntries: number;
  maxBytes: number;
  /** A result larger than this is kept as a digest (ok, status, and a note that the data was not kept). */
  maxResultBytes: number;
  windowMs: number;
}

export const DEFAULT_REPLAY_CACHE: ReplayCacheOptions = { maxEntries: 1000, maxBytes: 2 * 1024 * 1024, maxResultBytes: 64 * 1024, windowMs: 10 * 60_000 };

/** Charged for an entry whose result is not known yet (the command is still running), and per entry for the key and bookkeeping. */
const ENTRY_OVERHEAD_BYTES = 256;

interface Entry {
  at: number;
  result: Promise<CommandResult>;
  bytes: number;
}

export class ReplayCache {
  readonly #o: ReplayCacheOptions;
  /** Maps iterate in insertion order: the first key is the oldest. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;

  constructor(options: Partial<ReplayCacheOptions> = {}) {
    this.#o = { ...DEFAULT_REPLAY_CACHE, ...options };
  }

  /** The first result for this key, while within the replay window. */
  get(key: string, now: number): Promise<CommandResult> | undefined {
    const entry = this.#entries.get(key);
    return entry && now - entry.at < this.#o.windowMs ? entry.result : undefined;
  }

  remember(key: string, at: number, pending: Promise<CommandResult>): void {
    this.#delete(key);
    const entry: Entry = { at, result: pending, bytes: key.length * 2 + ENTRY_OVERHEAD_BYTES };
    this.#add(key, entry);
    void pending.then((result) => {
      // Evicted (or replaced) while running: nothing to resize.
      if (this.#entries.get(key) !== entry) return;
      const size = resultBytes(result);
      const kept = size > this.#o.maxResultBytes ? digest(result, size) : result;
      this.#bytes -= entry.bytes;
      entry.bytes = key.length * 2 + ENTRY_OVERHEAD_BYTES + (kept === result ? size : resultBytes(kept));
      entry.result = Promise.resolve(kept);
      this.#bytes += entry.bytes;
      this.#evict();
    });
  }

  size(): { entries: number; bytes: number } {
    return { entries: this.#entries.size, bytes: this.#bytes };
  }

  #add(key: string, entry: Entry): void {
    this.#entries.set(key, entry);
    this.#bytes += entry.bytes;
    this.#evict();
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    this.#bytes -= entry.bytes;
  }

  #evict(): void {
    while (this.#entries.size > this.#o.maxEntries || (this.#bytes > this.#o.maxBytes && this.#entries.size > 0)) {
      const oldest = this.#entries.keys().next().value!;
      this.#delete(oldest);
    }
  }
}

/** UTF-16 string size of the result as JSON: what holding it costs, near enough. */
function resultBytes(result: CommandResult): number {
  try {
    return (JSON.stringify(result)?.length ?? 0) * 2;
  } catch {
    return Number.POSITIVE_INFINITY; // circular or BigInt data: never kept whole
  }
}

function digest(result: CommandResult, bytes: number): CommandResult {
  const note = `the result (${Math.round(bytes / 2)} characters as JSON) was too large to keep for replays; this is a replay of a command that already ran`;
  return { ok: result.ok, status: result.status, message: result.ok ? note : `${(result.message ?? 'failed').slice(0, 512)} (${note})` };
}
