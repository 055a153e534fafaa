// The durable outbox on SQLite. Appends are buffered and written in one transaction per commit
// window (one fsync per window with sync=full, never one per reading); acks, retention drops and
// drop counters ride in the same transactions. Leases live in memory only: after a crash every
// unacked reading is sent again (at-least-once; ids let the cloud deduplicate).
import type Database from 'better-sqlite3';
import type { Logger } from '../log.ts';
import type { FieldValue, Reading } from '../sources/reading.ts';
import type { OutboxConfig } from './config.ts';
import { DropCounter } from './drop-counter.ts';
import { heldReadingsLimit } from './held-readings.ts';
import { LeaseRanges, type SeqRange } from './lease-ranges.ts';
import type { Lease, LeaseOptions, Outbox, OutboxEntry, OutboxStats } from './outbox.ts';
import { reservedBudget, rowsToDrop, telemetryBudget } from './retention.ts';
import { dropNewest, dropOldest, dropOlderThan, type SensorCounts } from './row-drops.ts';
import { prepareStatements, readStoredState, READING_FIELDS, ROWS_PER_INSERT, type Statements } from './statements.ts';
import { openStoreFile } from './store-file.ts';
import { systemTimers, type TimerHandle, type Timers } from '../timers.ts';

export interface OpenOutboxOptions {
  dataDir: string;
  agentId: string;
  config: OutboxConfig;
  log: Logger;
  now?: () => number;
  /** The commit timer runs on these: a fake clock in tests. */
  timers?: Timers;
  /** Caps the file at this many pages: tests provoke SQLITE_FULL with it. */
  maxPageCount?: number;
}

const FLAG_CLOCK_UNSYNCED = 1;
/** Where drops of the reserved lane are counted in stats().dropped. */
export const RESERVED_SENSOR = '$reserved';
/** Retry pace while the disk refuses writes: often enough to recover quickly, rarely enough not to spin. */
const RETRY_WHILE_FAILING_MS = 1000;
/** Age retention and the space-reclaim check run at most this often (inside a commit). */
const MAINTENANCE_EVERY_MS = 10_000;
/** Acked leases waiting for their delete, at most, before a commit is forced. */
const MAX_PENDING_ACKS = 64;

/** Opens (or creates) `{dataDir}/outbox.db`; throws DataDirError when the directory cannot be written. */
export function openOutbox(options: OpenOutboxOptions): Outbox {
  return new SqliteOutbox(options);
}

interface LeaseRecord {
  telemetry: SeqRange | undefined;
  reserved: number[];
}

class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #s: Statements;
  readonly #config: OutboxConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #idPrefix: string;
  readonly #pageSize: number;
  readonly #drops: DropCounter;
  readonly #leases = new Map<number, LeaseRecord>();
  readonly #leasedTelemetry = new LeaseRanges();
  readonly #leasedReserved = new Set<number>();
  readonly #listeners = new Set<(committedSeq: number) => void>();
  /** Buffered readings, flat (READING_FIELDS values each): no object per reading on the hot path. */
  #buf: (string | number)[] = [];
  /** Buffered reserved entries, flat: seq, ts, body. */
  #reservedBuf: (string | number)[] = [];
  #ackedRanges: SeqRange[] = [];
  #ackedReserved: number[] = [];
  readonly #batchFields: number;
  /** Readings held in memory while writes fail, at most; beyond it the whenFull policy drops. */
  readonly #heldLimit: number;
  #timer: TimerHandle | undefined;
  readonly #timers: Timers;
  #lastSeq: number;
  #committedSeq: number;
  #pending: number;
  #pendingReserved: number;
  #reservedStoredBytes: number;
  #usedBytes = 0;
  #commits = 0;
  #nextLeaseId = 1;
  #failing: 'full' | 'error' | undefined;
  #lastMaintenance = -Infinity;
  #retryingAfterRoom = false;
  #closed = false;

  constructor(options: OpenOutboxOptions) {
    this.#config = options.config;
    this.#log = options.log;
    this.#timers = options.timers ?? systemTimers;
    this.#now = options.now ?? options.timers?.now ?? Date.now;
    const opened = openStoreFile({ dataDir: options.dataDir, sync: options.config.sync, log: options.log, now: this.#now, ...(options.maxPageCount === undefined ? {} : { maxPageCount: options.maxPageCount }) });
    this.#db = opened.db;
    let stored: ReturnType<typeof readStoredState>;
    try {
      this.#s = prepareStatements(this.#db);
      stored = readStoredState(this.#db);
    } catch (error) {
      // The caller retries the open (a disk that fails reads too): do not leak a handle per attempt.
      this.#db.close();
      throw error;
    }
    this.#idPrefix = `${options.agentId}-${opened.epoch}-`;
    this.#lastSeq = stored.lastSeq;
    this.#committedSeq = stored.lastSeq;
    this.#pending = stored.pending;
    this.#pendingReserved = stored.pendingReserved;
    this.#reservedStoredBytes = stored.reservedBytes;
    this.#pageSize = stored.pageSize;
    this.#drops = new DropCounter(stored.drops, options.log, this.#now);
    this.#batchFields = options.config.commitBatch * READING_FIELDS;
    this.#heldLimit = heldReadingsLimit(options.config);
    this.#usedBytes = this.#measureUsedBytes();
    // Age retention and space reclaim at once: an agent that was off for weeks starts clean.
    this.#commit();
  }

  append(reading: Reading): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const seq = ++this.#lastSeq;
    const buf = this.#buf;
    buf.push(seq, reading.sensorId, reading.ts, reading.clockUnsynced === true ? FLAG_CLOCK_UNSYNCED : 0, JSON.stringify(reading.values));
    if (buf.length >= this.#batchFields && this.#failing === undefined) this.#commit();
    else {
      if (this.#failing !== undefined && buf.length > this.#heldLimit * READING_FIELDS) this.#trimHeld();
      if (this.#timer === undefined) this.#schedule();
    }
    return seq;
  }

  appendReserved(body: unknown): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const seq = ++this.#lastSeq;
    this.#reservedBuf.push(seq, this.#now(), JSON.stringify(body) ?? 'null');
    this.#schedule();
    return seq;
  }

  flush(): void {
    if (this.#closed) return;
    this.#commit();
  }

  lease({ max, from }: LeaseOptions): Lease | undefined {
    if (this.#closed) return undefined;
    const limit = Math.max(1, Math.floor(max));
    const entries: OutboxEntry[] = [];
    const record: LeaseRecord = { telemetry: undefined, reserved: [] };
    // Command replies and events first: an operator is waiting for them.
    if (this.#pendingReserved > this.#leasedReserved.size) {
      for (const [seq, ts, body] of this.#s.leaseReserved.all(limit + this.#leasedReserved.size) as [number, number, string][]) {
        if (entries.length >= limit) break;
        if (this.#leasedReserved.has(seq)) continue;
        this.#leasedReserved.add(seq);
        record.reserved.push(seq);
        entries.push({ seq, id: this.#idPrefix + seq, lane: 'reserved', sensorId: RESERVED_SENSOR, ts, values: {}, body: JSON.parse(body) as unknown });
      }
    }
    const room = limit - entries.length;
    if (room > 0 && this.#pending > 0) {
      const statement = from === 'newest' ? this.#s.leaseNewest : this.#s.leaseOldest;
      for (const gap of this.#leasedTelemetry.gaps(from)) {
        const rows = statement.all(gap.lo, gap.hi, room) as [number, string, number, number, string][];
        if (rows.length === 0) continue;
        if (from === 'newest') rows.reverse();
        record.telemetry = { lo: rows[0]![0], hi: rows[rows.length - 1]![0] };
        this.#leasedTelemetry.add(record.telemetry);
        for (const [seq, sensorId, ts, flags, vals] of rows) {
          const entry: OutboxEntry = { seq, id: this.#idPrefix + seq, lane: 'telemetry', sensorId, ts, values: JSON.parse(vals) as Record<string, FieldValue> };
          if ((flags & FLAG_CLOCK_UNSYNCED) !== 0) entry.clockUnsynced = true;
          entries.push(entry);
        }
        break;
      }
    }
    if (entries.length === 0) return undefined;
    const leaseId = this.#nextLeaseId++;
    this.#leases.set(leaseId, record);
    return { leaseId, entries };
  }

  ack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    // The rows stay leased until their delete is committed, so they are never handed out twice.
    if (record.telemetry) this.#ackedRanges.push(record.telemetry);
    for (const seq of record.reserved) this.#ackedReserved.push(seq);
    if (this.#ackedRanges.length >= MAX_PENDING_ACKS && this.#failing === undefined) this.#commit();
    else this.#schedule();
  }

  nack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    if (record.telemetry) this.#leasedTelemetry.remove(record.telemetry);
    for (const seq of record.reserved) this.#leasedReserved.delete(seq);
  }

  purge(filter: { sensorId?: string; olderThan?: number }): number {
    if (this.#closed) return 0;
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.sensorId !== undefined) {
      where.push('sensor = ?');
      params.push(filter.sensorId);
    }
    if (filter.olderThan !== undefined) {
      where.push('ts < ?');
      params.push(filter.olderThan);
    }
    if (where.length === 0) return 0;
    this.#commit();
    const condition = where.join(' AND ');
    const bySensor: SensorCounts = new Map();
    const purged = this.#db.transaction(() => {
      for (const [sensor, n] of this.#db.prepare(`SELECT sensor, count(*) FROM readings WHERE ${condition} GROUP BY sensor`).raw().all(...params) as [string, number][]) bySensor.set(sensor, n);
      const changes = this.#db.prepare(`DELETE FROM readings WHERE ${condition}`).run(...params).changes;
      for (const [sensor, n] of bySensor) this.#s.addDrops.run(sensor, n);
      return changes;
    })();
    this.#pending -= purged;
    this.#drops.add(bySensor, 'purged by command', true);
    this.#usedBytes = this.#measureUsedBytes();
    return purged;
  }

  recordDropped(sensorId: string, count: number, reason: string): void {
    if (count <= 0) return;
    this.#drops.add(new Map([[sensorId, count]]), reason);
    this.#schedule();
  }

  stats(): OutboxStats {
    return {
      pending: this.#pending,
      pendingReserved: this.#pendingReserved,
      leased: this.#leases.size,
      oldestTs: this.#pending > 0 && !this.#closed ? ((this.#s.oldestTs.get() as number | undefined) ?? null) : null,
      bytes: this.#usedBytes,
      maxBytes: this.#config.maxBytes,
      dropped: this.#drops.snapshot(),
      lastSeq: this.#lastSeq,
      committedSeq: this.#committedSeq,
      commits: this.#commits,
      diskFull: this.#failing === 'full',
    };
  }

  onCommit(listener: (committedSeq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#commit();
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const lost = this.#buf.length / READING_FIELDS + this.#reservedBuf.length / 3;
    if (lost > 0) this.#log.error({ event: 'outbox-unsaved-at-close', count: lost }, `closing the outbox with ${lost} entries that could not be written (${this.#failing === 'full' ? 'disk full' : 'write error'}); they are lost`);
    try {
      // Leaves a single file behind: easy to copy, and no WAL to replay at the next start.
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // Housekeeping only: SQLite replays the WAL at the next open anyway.
    }
    this.#db.close();
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#closed) return;
    const delay = this.#failing === undefined ? this.#config.commitInterval : Math.max(this.#config.commitInterval, RETRY_WHILE_FAILING_MS);
    // The outbox must never keep the process alive by itself; close() flushes what is left.
    this.#timer = this.#timers.setTimeout(
      () => {
        this.#timer = undefined;
        if (!this.#closed) this.#commit();
      },
      delay,
      { unref: true },
    );
  }

  /** One transaction: acks, new entries, retention, drop counters. One fsync with sync=full. */
  #commit(chunked = this.#failing !== undefined): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    // While writes fail, retry a commitBatch at a time: whatever fits is stored, not all or nothing.
    const whole = this.#buf;
    const batch = chunked && whole.length > this.#batchFields ? whole.slice(0, this.#batchFields) : whole;
    const rest = batch === whole ? [] : whole.slice(batch.length);
    const reserved = this.#reservedBuf;
    const acked = this.#ackedRanges;
    const ackedReserved = this.#ackedReserved;
    const now = this.#now();
    const maintenanceDue = now - this.#lastMaintenance >= MAINTENANCE_EVERY_MS;
    if (batch.length === 0 && reserved.length === 0 && acked.length === 0 && ackedReserved.length === 0 && !this.#drops.hasUnsaved && !maintenanceDue) return;
    const unsavedDrops = this.#drops.takeUnsaved();
    // Every seq below the first one still buffered is now stored or dropped.
    const committedSeq = rest.length > 0 ? (rest[0] as number) - 1 : this.#lastSeq;
    const retention = { full: new Map() as SensorCounts, aged: new Map() as SensorCounts, reserved: new Map() as SensorCounts };
    let result: { pending: number; pendingReserved: number; reservedBytes: number; usedBytes: number };
    try {
      result = this.#db.transaction(() => {
        let pending = this.#pending;
        let pendingReserved = this.#pendingReserved;
        let reservedBytes = this.#reservedStoredBytes;
        for (const range of acked) pending -= this.#s.deleteRange.run(range.lo, range.hi).changes;
        for (const seq of ackedReserved) pendingReserved -= this.#s.deleteReserved.run(seq).changes;
        pending += this.#insertReadings(batch);
        for (let i = 0; i < reserved.length; i += 3) {
          this.#s.insertReserved.run(reserved[i], reserved[i + 1], reserved[i + 2]);
          reservedBytes += (reserved[i + 2] as string).length;
          pendingReserved++;
        }
        if (batch.length > 0 || reserved.length > 0) this.#s.saveLastSeq.run(String(committedSeq));
        if (maintenanceDue) pending -= dropOlderThan(this.#s, now - this.#config.maxAge, retention.aged);
        if (reservedBytes > reservedBudget(this.#config)) {
          const freed = this.#dropReserved(reservedBytes - reservedBudget(this.#config));
          pendingReserved -= freed.count;
          reservedBytes -= freed.bytes;
          if (freed.count > 0) retention.reserved.set(RESERVED_SENSOR, freed.count);
        }
        let usedBytes = this.#measureUsedBytes();
        const excess = rowsToDrop({ usedBytes: usedBytes - reservedBytes, budget: telemetryBudget(this.#config), rows: pending, policy: this.#config.whenFull });
        if (excess > 0) {
          const drop = this.#config.whenFull === 'drop-oldest' ? dropOldest : dropNewest;
          pending -= drop(this.#s, this.#leasedTelemetry, excess, retention.full);
          usedBytes = this.#measureUsedBytes();
        }
        for (const counts of [unsavedDrops, retention.full, retention.aged, retention.reserved]) for (const [sensor, n] of counts) this.#s.addDrops.run(sensor, n);
        return { pending, pendingReserved, reservedBytes, usedBytes };
      })();
    } catch (error) {
      this.#drops.restore(unsavedDrops);
      this.#onWriteFailed(error);
      return;
    }
    if (this.#failing !== undefined) {
      this.#log.warn({ event: 'outbox-write-recovered', held: batch.length / READING_FIELDS }, 'the outbox can write again; held readings are stored');
      this.#failing = undefined;
    }
    this.#buf = rest;
    this.#reservedBuf = [];
    this.#ackedRanges = [];
    this.#ackedReserved = [];
    for (const range of acked) this.#leasedTelemetry.remove(range);
    for (const seq of ackedReserved) this.#leasedReserved.delete(seq);
    this.#pending = result.pending;
    this.#pendingReserved = result.pendingReserved;
    this.#reservedStoredBytes = result.pendingReserved === 0 ? 0 : result.reservedBytes;
    this.#usedBytes = result.usedBytes;
    this.#commits++;
    this.#drops.add(retention.full, `outbox reached maxBytes (${this.#config.maxBytes} bytes), policy ${this.#config.whenFull}`, true);
    this.#drops.add(retention.aged, `older than maxAge (${Math.round(this.#config.maxAge / 3_600_000)} h)`, true);
    this.#drops.add(retention.reserved, `reserved lane over reservedBytes (${this.#config.reservedBytes} bytes)`, true);
    if (maintenanceDue) {
      this.#lastMaintenance = now;
      this.#reclaimSpace();
    }
    if (batch.length > 0 || reserved.length > 0) {
      this.#committedSeq = committedSeq;
      for (const listener of this.#listeners) {
        try {
          listener(committedSeq);
        } catch (error) {
          this.#log.error({ event: 'outbox-listener-failed', err: error }, 'an outbox commit listener threw');
        }
      }
    }
    if (rest.length > 0) this.#commit(true);
  }

  #insertReadings(batch: (string | number)[]): number {
    const chunk = ROWS_PER_INSERT * READING_FIELDS;
    let i = 0;
    for (; i + chunk <= batch.length; i += chunk) this.#s.insertMany.run(batch.slice(i, i + chunk));
    for (; i < batch.length; i += READING_FIELDS) this.#s.insertOne.run(batch[i], batch[i + 1], batch[i + 2], batch[i + 3], batch[i + 4]);
    return batch.length / READING_FIELDS;
  }

  #dropReserved(bytesToFree: number): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const [seq, size] of this.#s.reservedSizes.all() as [number, number][]) {
      if (bytes >= bytesToFree) break;
      if (this.#leasedReserved.has(seq)) continue;
      this.#s.deleteReserved.run(seq);
      count++;
      bytes += size;
    }
    return { count, bytes };
  }

  /** A write failed (disk full, I/O error): keep running, hold a bounded buffer, retry, apply the policy. */
  #onWriteFailed(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    const full = code === 'SQLITE_FULL';
    if (this.#failing === undefined) {
      const held = this.#buf.length / READING_FIELDS;
      if (full) this.#log.error({ event: 'outbox-disk-full', held }, `the disk holding the outbox is full: up to ${this.#heldLimit} readings are held in memory, the ${this.#config.whenFull} policy applies, and the outbox recovers by itself when space returns; free space on the data partition`);
      else this.#log.error({ event: 'outbox-write-failed', code, err: error, held }, `the outbox cannot write (${String(code ?? error)}); retrying every ${RETRY_WHILE_FAILING_MS / 1000} s with up to ${this.#heldLimit} readings held in memory`);
    }
    this.#failing = full ? 'full' : 'error';
    this.#trimHeld();
    if (full && !this.#retryingAfterRoom && this.#makeRoom() > 0) {
      // Room was made: try once more now rather than a retry interval later.
      this.#retryingAfterRoom = true;
      try {
        this.#commit(true);
      } finally {
        this.#retryingAfterRoom = false;
      }
    }
    if (this.#failing !== undefined) this.#schedule();
  }

  /** Frees pages without inserting: acknowledged rows first, then (drop-oldest) the oldest readings. */
  #makeRoom(): number {
    const acked = this.#ackedRanges;
    const ackedReserved = this.#ackedReserved;
    const dropped: SensorCounts = new Map();
    try {
      const freed = this.#db.transaction(() => {
        let rows = 0;
        for (const range of acked) rows += this.#s.deleteRange.run(range.lo, range.hi).changes;
        let reservedRows = 0;
        for (const seq of ackedReserved) reservedRows += this.#s.deleteReserved.run(seq).changes;
        let droppedRows = 0;
        if (this.#config.whenFull === 'drop-oldest') {
          // Twice what is held (a page holds rows only partly once the oldest are deleted), and at least 1%.
          const want = Math.max(2 * (this.#buf.length / READING_FIELDS), this.#config.commitBatch, Math.ceil((this.#pending - rows) / 100));
          droppedRows = dropOldest(this.#s, this.#leasedTelemetry, want, dropped);
          for (const [sensor, n] of dropped) this.#s.addDrops.run(sensor, n);
        }
        return { rows: rows + droppedRows, reservedRows };
      })();
      this.#ackedRanges = [];
      this.#ackedReserved = [];
      for (const range of acked) this.#leasedTelemetry.remove(range);
      for (const seq of ackedReserved) this.#leasedReserved.delete(seq);
      this.#pending -= freed.rows;
      this.#pendingReserved -= freed.reservedRows;
      this.#drops.add(dropped, 'disk full, policy drop-oldest', true);
      return freed.rows + freed.reservedRows;
    } catch {
      // Even a delete can fail on a full disk; the held buffer's bound still protects memory.
      return 0;
    }
  }

  /** Keeps the held buffer within its bound: drop-oldest drops the oldest held readings, drop-newest the newest. */
  #trimHeld(): void {
    const excess = this.#buf.length / READING_FIELDS - this.#heldLimit;
    if (excess <= 0) return;
    // A tenth of the bound at once, so the splice is not paid on every append.
    const count = Math.min(this.#buf.length / READING_FIELDS, excess + Math.ceil(this.#heldLimit / 10));
    const removed = this.#config.whenFull === 'drop-oldest' ? this.#buf.splice(0, count * READING_FIELDS) : this.#buf.splice(this.#buf.length - count * READING_FIELDS);
    const bySensor: SensorCounts = new Map();
    for (let i = 1; i < removed.length; i += READING_FIELDS) {
      const sensor = removed[i] as string;
      bySensor.set(sensor, (bySensor.get(sensor) ?? 0) + 1);
    }
    this.#drops.add(bySensor, `held in memory while the outbox cannot write, policy ${this.#config.whenFull}`);
  }

  /** After an outage drained, give the pages back: the file must not stay at its peak size on a small card. */
  #reclaimSpace(): void {
    const free = this.#s.freePages.get() as number;
    const pages = this.#s.pageCount.get() as number;
    if (free < 256 || free < pages / 2) return;
    try {
      this.#db.pragma(`incremental_vacuum(${free})`);
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
      this.#usedBytes = this.#measureUsedBytes();
      this.#log.info({ event: 'outbox-space-reclaimed', pages: free, bytes: free * this.#pageSize }, `outbox gave ${free * this.#pageSize} bytes back to the file system`);
    } catch (error) {
      this.#log.warn({ event: 'outbox-reclaim-failed', err: error }, 'could not shrink the outbox file; will try again later');
    }
  }

  #measureUsedBytes(): number {
    return (this.#s.usedPages.get() as number) * this.#pageSize;
  }
}
