// The outbox while its file cannot be opened. A full disk or an I/O error at start used to exit the
// agent; systemd's start limit then gave up within minutes, and the gateway stayed dead after space
// returned (issue #16). Now the agent runs on: it answers status, /health and commands, holds
// readings in memory up to the same bound the SQLite outbox holds while writes fail (a disk being
// cleaned comes back within minutes, and those readings are worth keeping; past the bound the
// whenFull policy drops and counts), says loudly what is wrong, and opens the file by itself.
import { statfsSync } from 'node:fs';
import { join } from 'node:path';
import bytes from 'bytes';
import { RateLimitedLog, type Logger } from '../log.ts';
import type { Reading } from '../sources/reading.ts';
import { DropCounter } from './drop-counter.ts';
import { HeldReadings, heldReadingsLimit } from './held-readings.ts';
import type { Lease, LeaseOptions, Outbox, OutboxStats } from './outbox.ts';
import { openOutbox, RESERVED_SENSOR, type OpenOutboxOptions } from './sqlite-outbox.ts';
import { STORE_FILE } from './store-file.ts';
import { systemTimers, type TimerHandle, type Timers } from '../timers.ts';

export interface RetryPace {
  firstMs: number;
  /** An attempt costs a few syscalls; this bounds how long readings wait in memory once space returns. */
  maxMs: number;
}

const DEFAULT_PACE: RetryPace = { firstMs: 1000, maxMs: 10_000 };
/** The loud line repeats at most this often while the outbox stays unavailable. */
const LOG_EVERY_MS = 60_000;
/** Command replies and events held meanwhile (they are small and few). */
const MAX_HELD_RESERVED = 1000;
/** Below this the disk counts as full: SQLite needs 32 KB for the -shm file and a few pages of WAL to open. */
const NEARLY_FULL_BYTES = 64 * 1024;

/**
 * Opens the SQLite outbox; when the file system refuses (full, I/O error, read-only), returns an
 * outbox that holds readings and retries with backoff until it opens. Other failures (a data dir the
 * agent may not write, a link where the file belongs, a newer schema) still throw: a human must act.
 */
export function openOutboxOrWait(options: OpenOutboxOptions & { retry?: RetryPace }): Outbox {
  try {
    return openOutbox(options);
  } catch (error) {
    if (!isStorageFailure(error)) throw error;
    const waiting = new WaitingOutbox(options, options.retry ?? DEFAULT_PACE);
    waiting.failed(error);
    return waiting;
  }
}

/** Errors the storage may get over by itself: the disk fills and empties, an SD card is remounted. */
export function isStorageFailure(error: unknown): boolean {
  for (let e: unknown = error; e !== undefined && e !== null; e = (e as { cause?: unknown }).cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (/^SQLITE_(FULL|IOERR|CANTOPEN|READONLY|BUSY|PROTOCOL)/.test(code)) return true;
    if (['ENOSPC', 'EDQUOT', 'EIO', 'EROFS'].includes(code)) return true;
  }
  return false;
}

class WaitingOutbox implements Outbox {
  readonly #options: OpenOutboxOptions;
  readonly #pace: RetryPace;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #file: string;
  readonly #drops: DropCounter;
  readonly #held: HeldReadings;
  readonly #heldLimit: number;
  #heldReserved: { body: unknown; destination: string | undefined }[] = [];
  readonly #listeners = new Set<(committedSeq: number) => void>();
  readonly #availableListeners = new Set<() => void>();
  readonly #loud = new RateLimitedLog(LOG_EVERY_MS);
  #opened: Outbox | undefined;
  #unstored = 0;
  readonly #since: number;
  #attempts = 0;
  #delay: number;
  #nextAttemptAt: number | null = null;
  #reason = '';
  #freeBytes: number | null = null;
  #timer: TimerHandle | undefined;
  readonly #timers: Timers;
  #closed = false;

  constructor(options: OpenOutboxOptions, pace: RetryPace) {
    this.#options = options;
    this.#pace = pace;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#timers = options.timers ?? systemTimers;
    this.#file = join(options.dataDir, STORE_FILE);
    this.#drops = new DropCounter([], options.log, this.#now);
    this.#heldLimit = heldReadingsLimit(options.config);
    this.#held = new HeldReadings(this.#heldLimit, options.config.whenFull, (bySensor) => this.#drops.add(bySensor, `outbox unavailable, more than ${this.#heldLimit} readings held in memory, policy ${options.config.whenFull}`));
    this.#since = this.#now();
    this.#delay = pace.firstMs;
  }

  append(reading: Reading): number {
    if (this.#opened) return this.#opened.append(reading);
    if (this.#closed) throw new Error('the outbox is closed');
    this.#unstored++;
    this.#held.push(reading);
    return 0;
  }

  appendReserved(body: unknown, destination?: string): number {
    if (this.#opened) return this.#opened.appendReserved(body, destination);
    if (this.#closed) throw new Error('the outbox is closed');
    this.#heldReserved.push({ body, destination });
    if (this.#heldReserved.length > MAX_HELD_RESERVED) {
      this.#heldReserved.shift();
      this.#drops.add(new Map([[RESERVED_SENSOR, 1]]), `outbox unavailable, more than ${MAX_HELD_RESERVED} replies held in memory`);
    }
    return 0;
  }

  flush(): void {
    this.#opened?.flush();
  }

  lease(options: LeaseOptions): Lease | undefined {
    return this.#opened?.lease(options);
  }

  ack(leaseId: number): void {
    this.#opened?.ack(leaseId);
  }

  nack(leaseId: number): void {
    this.#opened?.nack(leaseId);
  }

  purge(filter: { sensorId?: string; olderThan?: number }): number {
    if (this.#opened) return this.#opened.purge(filter);
    return this.#drops.add(this.#held.purge(filter), 'purged by command');
  }

  recordDropped(sensorId: string, count: number, reason: string): void {
    if (this.#opened) this.#opened.recordDropped(sensorId, count, reason);
    else if (count > 0) this.#drops.add(new Map([[sensorId, count]]), reason);
  }

  stats(): OutboxStats {
    if (this.#opened) return { ...this.#opened.stats(), unstored: this.#unstored };
    const held = this.#held.size;
    return {
      pending: 0,
      pendingReserved: 0,
      leased: 0,
      oldestTs: null,
      bytes: 0,
      maxBytes: this.#options.config.maxBytes,
      dropped: this.#drops.snapshot(),
      lastSeq: 0,
      committedSeq: 0,
      commits: 0,
      diskFull: this.#diskLooksFull(),
      unavailable: { reason: this.#reason, dataDir: this.#options.dataDir, freeBytes: this.#freeBytes, since: this.#since, attempts: this.#attempts, nextAttemptAt: this.#nextAttemptAt, held },
      unstored: this.#unstored,
    };
  }

  onCommit(listener: (committedSeq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onAvailable(listener: () => void): () => void {
    // Nothing can be leased while the file is unavailable; once it opens, the opened outbox announces.
    this.#availableListeners.add(listener);
    return () => this.#availableListeners.delete(listener);
  }

  close(): void {
    if (this.#opened) return this.#opened.close();
    if (this.#closed) return;
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
    const lost = this.#held.size + this.#heldReserved.length;
    if (lost > 0) this.#log.error({ event: 'outbox-unsaved-at-close', count: lost, dataDir: this.#options.dataDir }, `closing with ${lost} entries held in memory that could never be stored (the outbox ${this.#file} could not be opened: ${this.#reason}); they are lost`);
  }

  #attempt(): void {
    this.#timer = undefined;
    this.#nextAttemptAt = null;
    if (this.#closed || this.#opened) return;
    let opened: Outbox;
    try {
      opened = openOutbox(this.#options);
    } catch (error) {
      this.failed(error);
      return;
    }
    this.#attach(opened);
  }

  /** An attempt to open failed: say so (at most once a minute) and try again later. */
  failed(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    this.#attempts++;
    this.#reason = `${error instanceof Error ? error.message : String(error)}${typeof code === 'string' ? ` (${code})` : ''}`;
    this.#freeBytes = freeBytes(this.#options.dataDir);
    const now = this.#now();
    const suppressed = this.#loud.admit('unavailable', now);
    if (suppressed < 0) this.#log.debug({ event: 'outbox-open-failed', attempts: this.#attempts, reason: this.#reason }, `the outbox still cannot be opened: ${this.#reason}`);
    else {
      const dir = this.#options.dataDir;
      const free = this.#freeBytes === null ? 'unknown space' : `${bytes(this.#freeBytes)}`;
      const fix = this.#diskLooksFull()
        ? `free space on the file system holding ${dir} (for example: sudo journalctl --vacuum-size=50M; du -xsh /var/* | sort -h)`
        : `check the storage holding ${dir} (dmesg; mount | grep ' ro,'): a card remounted read-only or failing I/O needs a human`;
      const held = this.#held.size;
      const lead = this.#attempts === 1 ? 'OUTBOX UNAVAILABLE' : `OUTBOX STILL UNAVAILABLE after ${Math.round((now - this.#since) / 1000)} s and ${this.#attempts} attempts`;
      this.#log.error(
        { event: 'outbox-unavailable', file: this.#file, dataDir: dir, freeBytes: this.#freeBytes, reason: this.#reason, attempts: this.#attempts, held, unstored: this.#unstored },
        `${lead}: cannot open ${this.#file}: ${this.#reason}; ${free} free in ${dir}. Readings are held in memory (${held} now, at most ${this.#heldLimit}, then the ${this.#options.config.whenFull} policy drops them) and lost if the agent stops before the file opens. To fix: ${fix}. The agent retries by itself and sends what it held once the file opens`,
      );
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#closed) return;
    const delay = this.#delay;
    this.#delay = Math.min(this.#delay * 2, this.#pace.maxMs);
    this.#nextAttemptAt = this.#now() + delay;
    // Must never keep the process alive by itself; close() says what is lost.
    this.#timer = this.#timers.setTimeout(() => this.#attempt(), delay, { unref: true });
  }

  /** The file opened: hand over everything held, then act as the SQLite outbox. */
  #attach(opened: Outbox): void {
    this.#opened = opened;
    opened.onCommit((committedSeq) => this.#notify(committedSeq));
    opened.onAvailable(() => {
      for (const listener of this.#availableListeners) listener();
    });
    // Counted here already (status showed them); the SQLite outbox persists them with its next commit.
    for (const [sensor, n] of this.#drops.takeUnsaved()) opened.recordDropped(sensor, n, 'dropped while the outbox was unavailable');
    const held = this.#held.takeAll();
    for (const reading of held) opened.append(reading);
    for (const { body, destination } of this.#heldReserved) opened.appendReserved(body, destination);
    this.#heldReserved = [];
    opened.flush();
    const stats = opened.stats();
    this.#log.warn(
      { event: 'outbox-opened', file: this.#file, unavailableMs: this.#now() - this.#since, attempts: this.#attempts, held: held.length, unstored: this.#unstored, pending: stats.pending },
      `the outbox ${this.#file} opened after ${Math.round((this.#now() - this.#since) / 1000)} s unavailable; ${held.length} readings held in memory were stored, ${stats.pending} pending`,
    );
    // Wakes the forwarder for a backlog already on disk even when nothing was held.
    if (held.length === 0) this.#notify(stats.committedSeq);
  }

  #notify(committedSeq: number): void {
    for (const listener of this.#listeners) {
      try {
        listener(committedSeq);
      } catch (error) {
        this.#log.error({ event: 'outbox-listener-failed', err: error }, 'an outbox commit listener threw');
      }
    }
  }

  #diskLooksFull(): boolean {
    return /SQLITE_FULL|ENOSPC|EDQUOT/.test(this.#reason) || (this.#freeBytes !== null && this.#freeBytes < NEARLY_FULL_BYTES);
  }
}

function freeBytes(dir: string): number | null {
  try {
    const fs = statfsSync(dir);
    return fs.bavail * fs.bsize;
  } catch {
    return null;
  }
}
