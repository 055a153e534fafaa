// The durable outbox: an append-only journal for what is new, SQLite for the backlog.
//
// Flash wear decides the design (bench/flash-wear.ts). Every commitInterval, what arrived and was
// not yet acknowledged is appended to the journal as one checksummed frame (journal.ts) with one
// fdatasync: one 4 KB page of the card for a commit of a few readings, where an SQLite commit wrote
// three or four. The forwarder leases readings straight from memory, so a reading the cloud
// acknowledges within the commit window is never written at all; with a live link that is almost
// every reading. Readings reach SQLite only when the journal fills (an outage longer than a few
// minutes), in one large transaction that writes each new page once, and leave it when the backlog
// is acknowledged: acknowledged seq ranges are recorded and the table is emptied at once when all
// of it is acknowledged, because deleting rows range by range rewrites every page they were on.
//
// The promise is unchanged: a reading is durable within commitInterval or was acknowledged by then.
// Leases live in memory only; after a crash every unacknowledged reading is sent again, and at most
// the acknowledgements of the last commitInterval are forgotten (duplicates; ids let the cloud
// deduplicate). Ids come from a reserved block of seqs (meta seqReserved), so a reading delivered
// without ever being written cannot have its id reused after a restart.
import type Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Logger } from '../log.ts';
import type { FieldValue, Reading } from '../sources/reading.ts';
import type { OutboxConfig } from './config.ts';
import { DropCounter } from './drop-counter.ts';
import { heldReadingsLimit } from './held-readings.ts';
import { OutboxJournal } from './journal.ts';
import { decodeFrame, encodeFrame, type JournalReading, type JournalReserved } from './journal-frame.ts';
import { gapsBetween, LeaseRanges, MergedRanges, type SeqRange } from './lease-ranges.ts';
import type { Lease, LeaseOptions, Outbox, OutboxEntry, OutboxStats } from './outbox.ts';
import { reservedBudget, rowsToDrop, telemetryBudget } from './retention.ts';
import { dropNewest, dropOldest, dropOlderThan, type SensorCounts } from './row-drops.ts';
import { prepareStatements, readStoredState, ROWS_PER_INSERT, type Statements } from './statements.ts';
import { openStoreFile } from './store-file.ts';
import { systemTimers, type TimerHandle, type Timers } from '../timers.ts';

export const JOURNAL_FILE = 'outbox.journal';

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
/** Age retention and the space-reclaim check run at most this often. */
const MAINTENANCE_EVERY_MS = 10_000;
/** Rounds of making room and retrying within one commit, at most. */
const MAX_ROOM_RETRIES = 32;
/** Seqs reserved at a time; a new block is written when half of one is used (about once a day at 10 readings/s). */
const SEQ_BLOCK = 1_000_000;

/** The journal's size before its readings move to SQLite: a sixteenth of maxBytes, between 64 KB and 1 MB (about 12,000 readings held in memory too). */
export function journalLimit(config: Pick<OutboxConfig, 'maxBytes'>): number {
  return Math.min(1024 * 1024, Math.max(64 * 1024, Math.floor(config.maxBytes / 16)));
}

/** Opens (or creates) `{dataDir}/outbox.db` and its journal; throws DataDirError when the directory cannot be written. */
export function openOutbox(options: OpenOutboxOptions): Outbox {
  return new SqliteOutbox(options);
}

/**
 * A leased reading: its values are parsed only when a format needs them as objects; the generic and
 * Azure formats splice `valuesJson` into the payload as stored (one serialization on the whole path).
 */
class StoredReading implements OutboxEntry {
  readonly lane = 'telemetry' as const;
  readonly seq: number;
  readonly id: string;
  readonly sensorId: string;
  readonly ts: number;
  readonly valuesJson: string;
  readonly clockUnsynced?: true;
  #values: Record<string, FieldValue> | undefined;

  constructor(seq: number, id: string, sensorId: string, ts: number, valuesJson: string, clockUnsynced: boolean) {
    this.seq = seq;
    this.id = id;
    this.sensorId = sensorId;
    this.ts = ts;
    this.valuesJson = valuesJson;
    if (clockUnsynced) this.clockUnsynced = true;
  }

  get values(): Record<string, FieldValue> {
    return (this.#values ??= JSON.parse(this.valuesJson) as Record<string, FieldValue>);
  }
}

/** A reading not yet in SQLite: in memory, and in the journal once `journaled`. */
interface HotReading extends JournalReading {
  journaled: boolean;
  leased: boolean;
  gone: boolean;
}

interface HotReserved extends JournalReserved {
  journaled: boolean;
  leased: boolean;
  gone: boolean;
}

interface LeaseRecord {
  /** Telemetry leased from SQLite: one contiguous seq range and how many rows it holds. */
  cold?: { range: SeqRange; count: number };
  /** Telemetry leased from memory. */
  hot?: HotReading[];
  coldReserved: number[];
  hotReserved: HotReserved[];
}

class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #s: Statements;
  #journal: OutboxJournal;
  readonly #journalLimit: number;
  readonly #config: OutboxConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #idPrefix: string;
  readonly #pageSize: number;
  readonly #drops: DropCounter;
  readonly #timers: Timers;
  readonly #leases = new Map<number, LeaseRecord>();
  readonly #listeners = new Set<(committedSeq: number) => void>();
  readonly #availableListeners = new Set<() => void>();
  /** Readings in memory, in seq order: the journaled ones first, then those not yet written. */
  #hot: HotReading[] = [];
  #hotReserved: HotReserved[] = [];
  /** SQLite rows out on lease. */
  readonly #leasedTelemetry = new LeaseRanges();
  /** SQLite rows the cloud acknowledged (kept until the table can be emptied at once). */
  readonly #coldAcked = new MergedRanges();
  #coldAckedRows = 0;
  #coldRows: number;
  #ackedRangesChanged = false;
  /** Reserved SQLite rows out on lease or acknowledged and not yet deleted. */
  readonly #leasedReserved = new Set<number>();
  #ackedReserved: number[] = [];
  #coldReserved: number;
  #reservedStoredBytes: number;
  /** Acknowledgements to put in the next journal frame. */
  #journalAcks: SeqRange[] = [];
  #journalReservedAcks: number[] = [];
  /** Drop counts in the journal, not yet in SQLite. */
  #journaledDrops: SensorCounts = new Map();
  /** The journal's contents reached SQLite but it could not be emptied: spill again before appending to it. */
  #journalStale = false;
  /** Readings held in memory while writes fail, at most; beyond it the whenFull policy drops. */
  readonly #heldLimit: number;
  #timer: TimerHandle | undefined;
  #notifyQueued = false;
  #lastSeq: number;
  #seqReserved = 0;
  #committedSeq: number;
  #usedBytes = 0;
  #commits = 0;
  #nextLeaseId = 1;
  #failing: 'full' | 'error' | undefined;
  #lastMaintenance = -Infinity;
  #roomRetries = 0;
  #closed = false;

  constructor(options: OpenOutboxOptions) {
    this.#config = options.config;
    this.#log = options.log;
    this.#timers = options.timers ?? systemTimers;
    this.#now = options.now ?? options.timers?.now ?? Date.now;
    const opened = openStoreFile({ dataDir: options.dataDir, sync: options.config.sync, log: options.log, now: this.#now, ...(options.maxPageCount === undefined ? {} : { maxPageCount: options.maxPageCount }) });
    this.#db = opened.db;
    let stored: ReturnType<typeof readStoredState>;
    let journal: ReturnType<typeof OutboxJournal.open>;
    try {
      this.#s = prepareStatements(this.#db);
      stored = readStoredState(this.#db);
      journal = OutboxJournal.open(join(options.dataDir, JOURNAL_FILE), options.config.sync === 'full');
    } catch (error) {
      // The caller retries the open (a disk that fails reads too): do not leak a handle per attempt.
      this.#db.close();
      throw error;
    }
    this.#journal = journal.journal;
    this.#journalLimit = journalLimit(options.config);
    this.#idPrefix = `${options.agentId}-${opened.epoch}-`;
    this.#lastSeq = stored.lastSeq;
    this.#coldRows = stored.rows;
    this.#coldReserved = stored.pendingReserved;
    this.#reservedStoredBytes = stored.reservedBytes;
    this.#pageSize = stored.pageSize;
    this.#drops = new DropCounter(stored.drops, options.log, this.#now);
    this.#heldLimit = heldReadingsLimit(options.config);
    for (const [lo, hi] of stored.acked) this.#coldAcked.add({ lo, hi });
    for (const range of this.#coldAcked.list) this.#coldAckedRows += this.#s.countBetween.get(range.lo, range.hi) as number;
    // A new file (or one from before the journal) starts its journal at the generation after the applied one.
    if (journal.contents.generation > stored.journalApplied) this.#replay(journal.contents.frames);
    this.#committedSeq = this.#lastSeq;
    this.#usedBytes = this.#measureUsedBytes();
    // Moves what the journal held into SQLite, takes a fresh block of ids, runs age retention and
    // reclaims space at once: an agent that was off for weeks starts clean.
    this.#spill();
    if (!this.#journalStale && this.#journal.generation > stored.journalApplied) {
      const fresh = this.#journal.recreate(this.#journal.generation, this.#journalLimit);
      if (fresh) this.#journal = fresh;
    }
    if (this.#journal.generation <= stored.journalApplied) {
      // The spill could not run (disk full): the journal still needs a generation SQLite has not applied.
      try {
        this.#journal.reset(stored.journalApplied + 1);
      } catch (error) {
        this.#journalStale = true;
        this.#log.warn({ event: 'outbox-journal-reset-failed', err: error }, 'could not empty the outbox journal; will try again');
      }
    }
  }

  /** What a crashed agent's journal held: readings and replies not yet in SQLite, acknowledgements, drop counts. */
  #replay(frames: string[]): void {
    const readings = new Map<number, HotReading>();
    const reserved = new Map<number, HotReserved>();
    let decoded = 0;
    for (const text of frames) {
      let frame;
      try {
        frame = decodeFrame(text);
      } catch {
        break;
      }
      decoded++;
      for (const r of frame.readings) readings.set(r.seq, { ...r, journaled: true, leased: false, gone: false });
      for (const r of frame.reserved) reserved.set(r.seq, { ...r, journaled: true, leased: false, gone: false });
      for (const range of frame.acked) {
        for (const seq of readings.keys()) if (seq >= range.lo && seq <= range.hi) readings.delete(seq);
        this.#coldAcked.add(range);
        this.#ackedRangesChanged = true;
      }
      for (const seq of frame.ackedReserved) if (!reserved.delete(seq)) this.#ackedReserved.push(seq);
      for (const [sensor, n] of frame.drops) this.#journaledDrops.set(sensor, (this.#journaledDrops.get(sensor) ?? 0) + n);
    }
    this.#hot = [...readings.values()].sort((a, b) => a.seq - b.seq);
    this.#hotReserved = [...reserved.values()].sort((a, b) => a.seq - b.seq);
    for (const r of this.#hot) this.#lastSeq = Math.max(this.#lastSeq, r.seq);
    for (const r of this.#hotReserved) this.#lastSeq = Math.max(this.#lastSeq, r.seq);
    for (const seq of this.#ackedReserved) this.#leasedReserved.add(seq);
    // Acked ranges from the journal may cover rows that were never in SQLite: count what they do cover.
    this.#coldAckedRows = 0;
    for (const range of this.#coldAcked.list) this.#coldAckedRows += this.#s.countBetween.get(range.lo, range.hi) as number;
    if (decoded < frames.length) this.#log.warn({ event: 'outbox-journal-unreadable', frames: frames.length - decoded }, `${frames.length - decoded} frames of the outbox journal passed their checksum but could not be read; their readings are lost`);
    this.#log.info({ event: 'outbox-journal-replayed', readings: this.#hot.length, reserved: this.#hotReserved.length }, `recovered ${this.#hot.length} readings from the outbox journal after an unclean stop`);
  }

  append(reading: Reading): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const seq = ++this.#lastSeq;
    this.#hot.push({ seq, sensorId: reading.sensorId, ts: reading.ts, flags: reading.clockUnsynced === true ? FLAG_CLOCK_UNSYNCED : 0, vals: JSON.stringify(reading.values), journaled: false, leased: false, gone: false });
    const unwritten = this.#lastSeq - this.#committedSeq;
    if (unwritten >= this.#config.commitBatch && this.#failing === undefined) this.#commit();
    else {
      if (this.#failing !== undefined && unwritten > this.#heldLimit) this.#trimHeld();
      if (this.#timer === undefined) this.#schedule();
    }
    this.#announce();
    return seq;
  }

  appendReserved(body: unknown): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const seq = ++this.#lastSeq;
    this.#hotReserved.push({ seq, ts: this.#now(), body: JSON.stringify(body) ?? 'null', journaled: false, leased: false, gone: false });
    this.#schedule();
    this.#announce();
    return seq;
  }

  flush(): void {
    if (this.#closed) return;
    this.#commit();
  }

  lease({ max, from, minLive = 1 }: LeaseOptions): Lease | undefined {
    if (this.#closed) return undefined;
    const limit = Math.max(1, Math.floor(max));
    const entries: OutboxEntry[] = [];
    const record: LeaseRecord = { coldReserved: [], hotReserved: [] };
    // Command replies and events first: an operator is waiting for them.
    if (this.#coldReserved > this.#leasedReserved.size) {
      for (const [seq, ts, body] of this.#s.leaseReserved.all(limit + this.#leasedReserved.size) as [number, number, string][]) {
        if (entries.length >= limit) break;
        if (this.#leasedReserved.has(seq)) continue;
        this.#leasedReserved.add(seq);
        record.coldReserved.push(seq);
        entries.push(this.#reservedEntry(seq, ts, body));
      }
    }
    for (const r of this.#hotReserved) {
      if (entries.length >= limit) break;
      if (r.leased) continue;
      r.leased = true;
      record.hotReserved.push(r);
      entries.push(this.#reservedEntry(r.seq, r.ts, r.body));
    }
    const room = limit - entries.length;
    if (room > 0) {
      // The table holds the older readings, memory the newer: oldest-first asks the table first.
      if (from === 'oldest') {
        if (!this.#leaseCold(room, from, record, entries)) this.#leaseHot(room, from, minLive, record, entries);
      } else if (!this.#leaseHot(room, from, minLive, record, entries)) this.#leaseCold(room, from, record, entries);
    }
    if (entries.length === 0) return undefined;
    const leaseId = this.#nextLeaseId++;
    this.#leases.set(leaseId, record);
    return { leaseId, entries };
  }

  #reservedEntry(seq: number, ts: number, body: string): OutboxEntry {
    return { seq, id: this.#idPrefix + seq, lane: 'reserved', sensorId: RESERVED_SENSOR, ts, values: {}, body: JSON.parse(body) as unknown };
  }

  #telemetryEntry(seq: number, sensorId: string, ts: number, flags: number, vals: string): OutboxEntry {
    return new StoredReading(seq, this.#idPrefix + seq, sensorId, ts, vals, (flags & FLAG_CLOCK_UNSYNCED) !== 0);
  }

  #leaseCold(room: number, from: 'oldest' | 'newest', record: LeaseRecord, entries: OutboxEntry[]): boolean {
    if (this.#coldRows - this.#coldAckedRows === 0) return false;
    const statement = from === 'newest' ? this.#s.leaseNewest : this.#s.leaseOldest;
    for (const gap of gapsBetween(this.#leasedTelemetry.list, this.#coldAcked.list, from)) {
      const rows = statement.all(gap.lo, gap.hi, room) as [number, string, number, number, string][];
      if (rows.length === 0) continue;
      if (from === 'newest') rows.reverse();
      record.cold = { range: { lo: rows[0]![0], hi: rows[rows.length - 1]![0] }, count: rows.length };
      this.#leasedTelemetry.add(record.cold.range);
      for (const [seq, sensorId, ts, flags, vals] of rows) entries.push(this.#telemetryEntry(seq, sensorId, ts, flags, vals));
      return true;
    }
    return false;
  }

  /** A run of unleased readings from memory, from one end: contiguous, so a lease is still one seq range. */
  #leaseHot(room: number, from: 'oldest' | 'newest', minLive: number, record: LeaseRecord, entries: OutboxEntry[]): boolean {
    const hot = this.#hot;
    const taken: HotReading[] = [];
    // Held back only while fewer than a batch wait; a backlog in the table (leaseCold) never is.
    const lingering = minLive > 1;
    if (from === 'oldest') {
      let i = hot.findIndex((r) => !r.leased);
      for (; i >= 0 && i < hot.length && taken.length < room && !hot[i]!.leased; i++) taken.push(hot[i]!);
    } else {
      let i = hot.findLastIndex((r) => !r.leased);
      for (; i >= 0 && taken.length < room && !hot[i]!.leased; i--) taken.push(hot[i]!);
      taken.reverse();
    }
    if (taken.length === 0 || (lingering && taken.length < Math.min(minLive, room))) return false;
    record.hot = taken;
    for (const r of taken) {
      r.leased = true;
      entries.push(this.#telemetryEntry(r.seq, r.sensorId, r.ts, r.flags, r.vals));
    }
    return true;
  }

  ack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    if (record.cold) {
      this.#leasedTelemetry.remove(record.cold.range);
      this.#coldAcked.add(record.cold.range);
      this.#coldAckedRows += record.cold.count;
      this.#ackedRangesChanged = true;
      this.#journalAcks.push(record.cold.range);
    }
    if (record.hot) {
      // Acknowledged before they were written: nothing to write, now or ever.
      for (const r of record.hot) r.gone = true;
      if (record.hot.some((r) => r.journaled)) this.#journalAcks.push({ lo: record.hot[0]!.seq, hi: record.hot.at(-1)!.seq });
      this.#hot = this.#hot.filter((r) => !r.gone);
    }
    for (const seq of record.coldReserved) {
      this.#ackedReserved.push(seq);
      this.#journalReservedAcks.push(seq);
    }
    if (record.hotReserved.length > 0) {
      for (const r of record.hotReserved) {
        r.gone = true;
        if (r.journaled) this.#journalReservedAcks.push(r.seq);
      }
      this.#hotReserved = this.#hotReserved.filter((r) => !r.gone);
    }
    if (this.#journalAcks.length > 0 || this.#journalReservedAcks.length > 0) this.#schedule();
  }

  nack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    if (record.cold) this.#leasedTelemetry.remove(record.cold.range);
    for (const r of record.hot ?? []) r.leased = false;
    for (const seq of record.coldReserved) this.#leasedReserved.delete(seq);
    for (const r of record.hotReserved) r.leased = false;
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
    // Everything to SQLite first, so one DELETE covers it and a replayed journal cannot bring purged readings back.
    this.#commit();
    this.#spill();
    const matches = (r: HotReading) => !r.leased && (filter.sensorId === undefined || r.sensorId === filter.sensorId) && (filter.olderThan === undefined || r.ts < filter.olderThan);
    const bySensor: SensorCounts = new Map();
    // What could not be spilled (disk full) is purged from memory.
    for (const r of this.#hot) if (matches(r)) bySensor.set(r.sensorId, (bySensor.get(r.sensorId) ?? 0) + 1);
    let purged = this.#hot.length;
    this.#hot = this.#hot.filter((r) => !matches(r));
    purged -= this.#hot.length;
    const condition = where.join(' AND ');
    try {
      purged += this.#db.transaction(() => {
        this.#deleteAckedRows();
        const fromTable: SensorCounts = new Map();
        for (const [sensor, n] of this.#db.prepare(`SELECT sensor, count(*) FROM readings WHERE ${condition} GROUP BY sensor`).raw().all(...params) as [string, number][]) fromTable.set(sensor, n);
        const changes = this.#db.prepare(`DELETE FROM readings WHERE ${condition}`).run(...params).changes;
        for (const [sensor, n] of fromTable) {
          this.#s.addDrops.run(sensor, n);
          bySensor.set(sensor, (bySensor.get(sensor) ?? 0) + n);
        }
        this.#coldRows -= changes;
        return changes;
      })();
    } catch (error) {
      this.#log.warn({ event: 'outbox-purge-failed', err: error }, `could not purge the stored backlog: ${(error as Error).message}`);
    }
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
    let hotPending = 0;
    let oldestHotTs: number | null = null;
    for (const r of this.#hot) {
      if (!r.journaled) continue;
      hotPending++;
      oldestHotTs ??= r.ts;
    }
    const coldPending = this.#coldRows - this.#coldAckedRows;
    const pendingReserved = this.#coldReserved - this.#ackedReserved.length + this.#hotReserved.filter((r) => r.journaled).length;
    return {
      pending: coldPending + hotPending,
      pendingReserved,
      leased: this.#leases.size,
      oldestTs: coldPending > 0 && !this.#closed ? this.#oldestColdTs() : oldestHotTs,
      bytes: this.#usedBytes + this.#journal.bytes,
      maxBytes: this.#config.maxBytes,
      dropped: this.#drops.snapshot(),
      lastSeq: this.#lastSeq,
      committedSeq: this.#committedSeq,
      commits: this.#commits,
      diskFull: this.#failing === 'full',
    };
  }

  #oldestColdTs(): number | null {
    for (const gap of gapsBetween([], this.#coldAcked.list, 'oldest')) {
      const row = this.#s.leaseOldest.all(gap.lo, gap.hi, 1) as [number, string, number][];
      if (row.length > 0) return row[0]![2];
    }
    return null;
  }

  onCommit(listener: (committedSeq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onAvailable(listener: () => void): () => void {
    this.#availableListeners.add(listener);
    return () => this.#availableListeners.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.#commit();
    // Leaves everything in outbox.db and an empty journal: easy to copy, and an older agent started on it loses nothing.
    this.#spill();
    this.#closed = true;
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const lost = this.#hot.filter((r) => !r.journaled).length + this.#hotReserved.filter((r) => !r.journaled).length;
    if (lost > 0) this.#log.error({ event: 'outbox-unsaved-at-close', count: lost }, `closing the outbox with ${lost} entries that could not be written (${this.#failing === 'full' ? 'disk full' : 'write error'}); they are lost`);
    this.#journal.close();
    this.#db.close();
  }

  /** Wakes the forwarder once per tick after appends: new readings can be leased before they are written. */
  #announce(): void {
    if (this.#notifyQueued || this.#availableListeners.size === 0) return;
    this.#notifyQueued = true;
    queueMicrotask(() => {
      this.#notifyQueued = false;
      for (const listener of this.#availableListeners) {
        try {
          listener();
        } catch (error) {
          this.#log.error({ event: 'outbox-listener-failed', err: error }, 'an outbox listener threw');
        }
      }
    });
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

  /** One commit: what is new goes into one journal frame (one fdatasync), or to SQLite when the journal is full. */
  #commit(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const now = this.#now();
    const maintenanceDue = now - this.#lastMaintenance >= MAINTENANCE_EVERY_MS;
    const readings = this.#hot.filter((r) => !r.journaled);
    const reserved = this.#hotReserved.filter((r) => !r.journaled);
    const nothingNew = readings.length === 0 && reserved.length === 0 && this.#journalAcks.length === 0 && this.#journalReservedAcks.length === 0 && !this.#drops.hasUnsaved;
    // A full commitBatch is a burst (a backlog being written, not a few sensors): written once, to SQLite directly.
    const spillDue = this.#failing !== undefined || this.#journalStale || readings.length >= this.#config.commitBatch || this.#lastSeq >= this.#seqReserved - SEQ_BLOCK / 2 || (maintenanceDue && this.#maintenanceWantsSpill(now));
    if (nothingNew && !spillDue) {
      if (maintenanceDue) this.#lastMaintenance = now;
      this.#committed(this.#lastSeq);
      return;
    }
    if (!spillDue) {
      const unsavedDrops = this.#drops.takeUnsaved();
      const frame = encodeFrame({ readings, reserved, acked: this.#journalAcks, ackedReserved: this.#journalReservedAcks, drops: [...unsavedDrops] });
      if (this.#journal.bytes + Buffer.byteLength(frame) + 8 <= this.#journalLimit) {
        try {
          this.#journal.append(frame);
        } catch (error) {
          this.#drops.restore(unsavedDrops);
          this.#onWriteFailed(error);
          return;
        }
        for (const r of readings) r.journaled = true;
        for (const r of reserved) r.journaled = true;
        this.#journalAcks = [];
        this.#journalReservedAcks = [];
        for (const [sensor, n] of unsavedDrops) this.#journaledDrops.set(sensor, (this.#journaledDrops.get(sensor) ?? 0) + n);
        this.#commits++;
        if (maintenanceDue) this.#lastMaintenance = now;
        this.#committed(this.#lastSeq);
        return;
      }
      this.#drops.restore(unsavedDrops);
    }
    this.#spill();
  }

  /** Age retention or a drained backlog to clear: worth an SQLite transaction at the maintenance pace. */
  #maintenanceWantsSpill(now: number): boolean {
    const cutoff = now - this.#config.maxAge;
    // Aged readings still in memory are dropped by the same SQL as those in the table.
    if (this.#hot.some((r) => r.ts < cutoff && (r.flags & FLAG_CLOCK_UNSYNCED) === 0 && !r.leased)) return true;
    if (this.#coldRows === 0) return false;
    if (this.#coldAckedRows >= this.#coldRows) return true;
    const boundary = (this.#s.ageBoundary.get(cutoff) as number | undefined) ?? Number.MAX_SAFE_INTEGER;
    return this.#s.anyAged.get(boundary, cutoff) !== undefined;
  }

  #committed(committedSeq: number): void {
    if (committedSeq <= this.#committedSeq) return;
    this.#committedSeq = committedSeq;
    for (const listener of this.#listeners) {
      try {
        listener(committedSeq);
      } catch (error) {
        this.#log.error({ event: 'outbox-listener-failed', err: error }, 'an outbox commit listener threw');
      }
    }
  }

  /**
   * Moves what is in memory to SQLite in one transaction (inserts, acknowledged rows, drop counts,
   * retention, the seq reservation), then empties the journal. While writes fail, a commitBatch of
   * the readings not yet journaled at a time: whatever fits is stored, not all or nothing.
   */
  #spill(): void {
    this.#timers.clearTimeout(this.#timer);
    this.#timer = undefined;
    const chunked = this.#failing !== undefined;
    const hot = this.#hot;
    let take = hot.length;
    if (chunked) {
      take = Math.min(hot.length, this.#config.commitBatch);
      // Never split a lease between memory and the table.
      while (take < hot.length && hot[take]!.leased) take++;
    }
    const moving = hot.slice(0, take);
    const rest = hot.slice(take);
    const reserved = this.#hotReserved;
    const ackedReserved = this.#ackedReserved;
    const now = this.#now();
    const maintenanceDue = now - this.#lastMaintenance >= MAINTENANCE_EVERY_MS;
    const unsavedDrops = this.#drops.takeUnsaved();
    const journaledDrops = this.#journaledDrops;
    const seqReserved = Math.max(this.#seqReserved, this.#lastSeq + SEQ_BLOCK);
    const retention = { full: new Map() as SensorCounts, aged: new Map() as SensorCounts, reserved: new Map() as SensorCounts };
    let result: { coldRows: number; coldReserved: number; reservedBytes: number; usedBytes: number; cleared: boolean; ackedDeleted: boolean };
    try {
      result = this.#db.transaction(() => {
        let coldRows = this.#coldRows;
        let coldReserved = this.#coldReserved;
        let reservedBytes = this.#reservedStoredBytes;
        let cleared = false;
        let ackedDeleted = false;
        if (coldRows > 0 && this.#coldAckedRows >= coldRows && this.#leasedTelemetry.size === 0) {
          // The whole backlog was delivered: empty the table at once (no page is rewritten).
          this.#s.clearReadings.run();
          this.#s.clearAcked.run();
          coldRows = 0;
          cleared = true;
        } else if (this.#ackedRangesChanged) {
          this.#s.clearAcked.run();
          for (const range of this.#coldAcked.list) this.#s.insertAcked.run(range.lo, range.hi);
        }
        for (const seq of ackedReserved) {
          const length = this.#s.deleteReserved.get(seq) as number | undefined;
          if (length === undefined) continue;
          coldReserved--;
          reservedBytes -= length;
        }
        coldRows += this.#insertReadings(moving);
        for (const r of reserved) {
          coldReserved += this.#s.insertReserved.run(r.seq, r.ts, r.body).changes;
          reservedBytes += r.body.length;
        }
        if (rest.length === 0 || !chunked) {
          this.#s.saveMeta.run('seqReserved', String(seqReserved));
          this.#s.saveMeta.run('journalApplied', String(this.#journal.generation));
        }
        if (maintenanceDue && coldRows > 0) {
          const cutoff = now - this.#config.maxAge;
          const boundary = (this.#s.ageBoundary.get(cutoff) as number | undefined) ?? Number.MAX_SAFE_INTEGER;
          if (this.#s.anyAged.get(boundary, cutoff) !== undefined) {
            coldRows -= this.#deleteAckedRows();
            ackedDeleted = true;
            coldRows -= dropOlderThan(this.#s, cutoff, retention.aged);
          }
        }
        if (reservedBytes > reservedBudget(this.#config)) {
          const freed = this.#dropReserved(reservedBytes - reservedBudget(this.#config));
          coldReserved -= freed.count;
          reservedBytes -= freed.bytes;
          if (freed.count > 0) retention.reserved.set(RESERVED_SENSOR, freed.count);
        }
        let usedBytes = this.#measureUsedBytes();
        let excess = rowsToDrop({ usedBytes: usedBytes - reservedBytes, budget: telemetryBudget(this.#config), rows: coldRows, policy: this.#config.whenFull });
        if (excess > 0 && !ackedDeleted && this.#coldAcked.list.length > 0) {
          // Delivered rows go before any reading is dropped.
          coldRows -= this.#deleteAckedRows();
          ackedDeleted = true;
          usedBytes = this.#measureUsedBytes();
          excess = rowsToDrop({ usedBytes: usedBytes - reservedBytes, budget: telemetryBudget(this.#config), rows: coldRows, policy: this.#config.whenFull });
        }
        if (excess > 0) {
          const drop = this.#config.whenFull === 'drop-oldest' ? dropOldest : dropNewest;
          coldRows -= drop(this.#s, this.#leasedTelemetry, excess, retention.full);
          usedBytes = this.#measureUsedBytes();
        }
        for (const counts of [unsavedDrops, journaledDrops, retention.full, retention.aged, retention.reserved]) for (const [sensor, n] of counts) this.#s.addDrops.run(sensor, n);
        return { coldRows, coldReserved, reservedBytes, usedBytes, cleared, ackedDeleted };
      })();
    } catch (error) {
      this.#drops.restore(unsavedDrops);
      this.#onWriteFailed(error);
      return;
    }
    if (this.#failing !== undefined && rest.length === 0) {
      this.#log.warn({ event: 'outbox-write-recovered' }, 'the outbox can write again; held readings are stored');
      this.#failing = undefined;
    }
    // Leases of readings that just moved continue as leases of SQLite rows.
    for (const record of this.#leases.values()) {
      if (record.hot && record.hot[0]!.seq <= (moving.at(-1)?.seq ?? 0)) {
        record.cold = { range: { lo: record.hot[0]!.seq, hi: record.hot.at(-1)!.seq }, count: record.hot.length };
        this.#leasedTelemetry.add(record.cold.range);
        delete record.hot;
      }
      for (const r of record.hotReserved) {
        this.#leasedReserved.add(r.seq);
        record.coldReserved.push(r.seq);
      }
      record.hotReserved = [];
    }
    this.#hot = rest;
    this.#hotReserved = [];
    for (const seq of ackedReserved) this.#leasedReserved.delete(seq);
    this.#ackedReserved = [];
    this.#journaledDrops = new Map();
    if (result.cleared || result.ackedDeleted) {
      this.#coldAcked.clear();
      this.#coldAckedRows = 0;
    }
    this.#ackedRangesChanged = false;
    this.#journalAcks = [];
    this.#journalReservedAcks = [];
    this.#coldRows = result.coldRows;
    this.#coldReserved = result.coldReserved;
    this.#reservedStoredBytes = result.coldReserved === 0 ? 0 : result.reservedBytes;
    this.#usedBytes = result.usedBytes;
    this.#seqReserved = seqReserved;
    this.#commits++;
    this.#drops.add(retention.full, `outbox reached maxBytes (${this.#config.maxBytes} bytes), policy ${this.#config.whenFull}`, true);
    this.#drops.add(retention.aged, `older than maxAge (${Math.round(this.#config.maxAge / 3_600_000)} h)`, true);
    this.#drops.add(retention.reserved, `reserved lane over reservedBytes (${this.#config.reservedBytes} bytes)`, true);
    if (rest.length === 0 || !chunked) this.#resetJournal();
    if (maintenanceDue || result.cleared) {
      this.#lastMaintenance = now;
      this.#reclaimSpace();
    }
    const firstUnwritten = this.#hot.find((r) => !r.journaled);
    this.#committed(firstUnwritten ? firstUnwritten.seq - 1 : this.#lastSeq);
    // The next chunk at once: stops at the first failure (which schedules a retry).
    if (rest.length > 0) this.#spill();
  }

  #resetJournal(): void {
    try {
      this.#journal.reset(this.#journal.generation + 1);
      this.#journalStale = false;
    } catch (error) {
      // SQLite holds everything; until the journal is emptied, commits go to SQLite (its old contents are never replayed: generation).
      this.#journalStale = true;
      this.#log.warn({ event: 'outbox-journal-reset-failed', err: error }, 'could not empty the outbox journal; commits go to the database until it can be');
    }
  }

  /** Deletes delivered rows for real (before retention drops, which must never count them). Inside a transaction. */
  #deleteAckedRows(): number {
    let deleted = 0;
    for (const range of this.#coldAcked.list) deleted += this.#s.deleteRange.run(range.lo, range.hi).changes;
    this.#s.clearAcked.run();
    return deleted;
  }

  #insertReadings(batch: HotReading[]): number {
    let inserted = 0;
    let i = 0;
    const row = (r: HotReading) => [r.seq, r.sensorId, r.ts, r.flags, r.vals];
    for (; i + ROWS_PER_INSERT <= batch.length; i += ROWS_PER_INSERT) inserted += this.#s.insertMany.run(batch.slice(i, i + ROWS_PER_INSERT).flatMap(row)).changes;
    for (; i < batch.length; i++) inserted += this.#s.insertOne.run(row(batch[i]!)).changes;
    return inserted;
  }

  #dropReserved(bytesToFree: number): { count: number; bytes: number } {
    let count = 0;
    let bytes = 0;
    for (const [seq, size] of this.#s.reservedSizes.all() as [number, number][]) {
      if (bytes >= bytesToFree) break;
      if (this.#leasedReserved.has(seq)) continue;
      if (this.#s.deleteReserved.get(seq) === undefined) continue;
      count++;
      bytes += size;
    }
    return { count, bytes };
  }

  /** A write failed (disk full, I/O error): keep running, hold a bounded buffer, retry, apply the policy. */
  #onWriteFailed(error: unknown): void {
    const code = (error as { code?: unknown }).code;
    const full = code === 'SQLITE_FULL' || code === 'ENOSPC';
    if (this.#failing === undefined) {
      const held = this.#hot.filter((r) => !r.journaled).length;
      if (full) this.#log.error({ event: 'outbox-disk-full', held }, `the disk holding the outbox is full: up to ${this.#heldLimit} readings are held in memory, the ${this.#config.whenFull} policy applies, and the outbox recovers by itself when space returns; free space on the data partition`);
      else this.#log.error({ event: 'outbox-write-failed', code, err: error, held }, `the outbox cannot write (${String(code ?? error)}); retrying every ${RETRY_WHILE_FAILING_MS / 1000} s with up to ${this.#heldLimit} readings held in memory`);
    }
    this.#failing = full ? 'full' : 'error';
    this.#trimHeld();
    if (full && this.#roomRetries < MAX_ROOM_RETRIES && this.#makeRoom() > 0) {
      // Room was made: try again now rather than a retry interval later (drop-oldest converges: each round frees more).
      this.#roomRetries++;
      try {
        this.#spill();
      } finally {
        this.#roomRetries--;
      }
    }
    if (this.#failing !== undefined) this.#schedule();
  }

  /** Frees space without inserting: delivered rows first, then (drop-oldest) the oldest readings; gives the pages back to the file system. */
  #makeRoom(): number {
    const dropped: SensorCounts = new Map();
    let hotDrops = 0;
    try {
      const freed = this.#db.transaction(() => {
        let rows = this.#deleteAckedRows();
        let reservedRows = 0;
        let reservedBytes = 0;
        for (const seq of this.#ackedReserved) {
          const length = this.#s.deleteReserved.get(seq) as number | undefined;
          if (length === undefined) continue;
          reservedRows++;
          reservedBytes += length;
        }
        let droppedRows = 0;
        if (this.#config.whenFull === 'drop-oldest') {
          const held = this.#hot.filter((r) => !r.journaled).length;
          // Twice what is held (a page holds rows only partly once the oldest are deleted), and at least 1%.
          const want = Math.max(2 * held, this.#config.commitBatch, Math.ceil((this.#coldRows - rows) / 100));
          droppedRows = dropOldest(this.#s, this.#leasedTelemetry, want, dropped);
          for (const [sensor, n] of dropped) this.#s.addDrops.run(sensor, n);
          hotDrops = want - droppedRows;
        }
        rows += droppedRows;
        return { rows, reservedRows, reservedBytes };
      })();
      // The table had too few: the oldest in memory go too (they would not fit either).
      const fromMemory: SensorCounts = new Map();
      for (const r of this.#hot) {
        if (hotDrops <= 0) break;
        if (r.leased) continue;
        r.gone = true;
        hotDrops--;
        fromMemory.set(r.sensorId, (fromMemory.get(r.sensorId) ?? 0) + 1);
      }
      if (fromMemory.size > 0) {
        this.#hot = this.#hot.filter((r) => !r.gone);
        this.#drops.add(fromMemory, 'disk full, policy drop-oldest');
      }
      this.#coldRows -= freed.rows;
      this.#coldAcked.clear();
      this.#coldAckedRows = 0;
      for (const seq of this.#ackedReserved) this.#leasedReserved.delete(seq);
      this.#coldReserved -= freed.reservedRows;
      this.#reservedStoredBytes -= freed.reservedBytes;
      this.#ackedReserved = [];
      this.#drops.add(dropped, 'disk full, policy drop-oldest', true);
      try {
        // The journal is a separate file: freed pages must go back to the file system to help it.
        this.#db.pragma('incremental_vacuum');
      } catch {
        // Best effort on a full disk.
      }
      return freed.rows + freed.reservedRows + fromMemory.size;
    } catch {
      // Even a delete can fail on a full disk; the held buffer's bound still protects memory.
      return 0;
    }
  }

  /** Keeps the readings held in memory (not yet written) within their bound: drop-oldest drops the oldest held, drop-newest the newest. */
  #trimHeld(): void {
    const held = this.#hot.filter((r) => !r.journaled && !r.leased);
    const excess = held.length - this.#heldLimit;
    if (excess <= 0) return;
    // A tenth of the bound at once, so the work is not paid on every append.
    const count = Math.min(held.length, excess + Math.ceil(this.#heldLimit / 10));
    const removed = this.#config.whenFull === 'drop-oldest' ? held.slice(0, count) : held.slice(held.length - count);
    const bySensor: SensorCounts = new Map();
    for (const r of removed) {
      r.gone = true;
      bySensor.set(r.sensorId, (bySensor.get(r.sensorId) ?? 0) + 1);
    }
    this.#hot = this.#hot.filter((r) => !r.gone);
    this.#drops.add(bySensor, `held in memory while the outbox cannot write, policy ${this.#config.whenFull}`);
  }

  /** After an outage drained, give the pages back: the file must not stay at its peak size on a small card. */
  #reclaimSpace(): void {
    const free = this.#s.freePages.get() as number;
    const pages = this.#s.pageCount.get() as number;
    if (free < 256 || free < pages / 2) return;
    try {
      this.#db.pragma(`incremental_vacuum(${free})`);
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
