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
import { RateLimitedLog, type Logger } from '../log.ts';
import type { FieldValue, Reading } from '../sources/reading.ts';
import type { OutboxConfig } from './config.ts';
import { DropCounter } from './drop-counter.ts';
import { heldReadingsLimit } from './held-readings.ts';
import { OutboxJournal } from './journal.ts';
import { decodeFrame, encodeFrame, type JournalReading, type JournalReserved } from './journal-frame.ts';
import { gapsBetween, intersectAll, LeaseRanges, MergedRanges, type SeqRange } from './lease-ranges.ts';
import type { DestinationStats, Lease, LeaseOptions, Outbox, OutboxEntry, OutboxStats } from './outbox.ts';
import { reservedBudget, rowsToDrop, telemetryBudget } from './retention.ts';
import { SINGLE_DESTINATION } from './schema.ts';
import { dropNewest, dropOldest, dropOlderThan, type DropWitness, type SensorCounts } from './row-drops.ts';
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
  /**
   * Where readings go, each with its own progress: a reading leaves the outbox when every destination
   * that wants it acknowledged it. Default one, "cloud" (a config with one `cloud` section).
   */
  destinations?: OutboxDestination[];
}

export interface OutboxDestination {
  id: string;
  /** Which sensors' readings it gets; default all. */
  wants?: (sensorId: string) => boolean;
}

/** One destination's progress through the stored readings. */
interface Progress {
  readonly id: string;
  /** Its bit in a hot reading's `leased` and `acked` masks. */
  readonly bit: number;
  readonly wants: (sensorId: string) => boolean;
  /** Table rows out on lease to it. */
  readonly leased: LeaseRanges;
  /** Table rows it acknowledged (kept until every destination has and the rows can go). */
  acked: MergedRanges;
  /** Rows of the table that `acked` covers. */
  ackedRows: number;
  /** Acknowledgements to put in the next journal frame. */
  journalAcks: SeqRange[];
  /** Readings deleted (retention, disk full, purge) before it acknowledged them; and what meta holds of it. */
  dropped: number;
  droppedSaved: number;
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
  /** Destination bits: out on lease to them, and acknowledged by them (or not wanted). Gone when every bit is acknowledged. */
  leased: number;
  acked: number;
  gone: boolean;
}

interface HotReserved extends JournalReserved {
  journaled: boolean;
  leased: boolean;
  gone: boolean;
}

interface LeaseRecord {
  dest: Progress;
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
  readonly #destinations: Progress[];
  /** Every destination's bit set: a hot reading with all of them acknowledged is gone. */
  readonly #allAcked: number;
  readonly #lossLog = new RateLimitedLog(60_000);
  #coldRows: number;
  /** The acked_by table needs rewriting at the next spill. */
  #ackedRangesChanged = false;
  /** Reserved SQLite rows out on lease or acknowledged and not yet deleted. */
  readonly #leasedReserved = new Set<number>();
  #ackedReserved: number[] = [];
  #coldReserved: number;
  #reservedStoredBytes: number;
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
    const destinations = options.destinations ?? [{ id: SINGLE_DESTINATION }];
    if (destinations.length === 0 || destinations.length > 30) throw new Error(`the outbox takes 1 to 30 destinations, not ${destinations.length}`);
    this.#destinations = destinations.map((d, i) => ({ id: d.id, bit: 1 << i, wants: d.wants ?? (() => true), leased: new LeaseRanges(), acked: new MergedRanges(), ackedRows: 0, journalAcks: [], dropped: 0, droppedSaved: 0 }));
    this.#allAcked = (1 << destinations.length) - 1;
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
    for (const [dest, lo, hi] of stored.acked) this.#destination(dest)?.acked.add({ lo, hi });
    for (const dest of this.#destinations) dest.dropped = dest.droppedSaved = stored.destinationDrops.get(dest.id) ?? 0;
    // A destination no longer configured holds nothing back: its acks are left out and not written again.
    if (stored.acked.some(([dest]) => this.#destination(dest) === undefined)) this.#ackedRangesChanged = true;
    this.#countAckedRows();
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
      for (const r of frame.readings) readings.set(r.seq, { ...r, journaled: true, leased: 0, acked: this.#unwantedBy(r.sensorId), gone: false });
      for (const r of frame.reserved) if (this.#destination(r.dest)) reserved.set(r.seq, { ...r, journaled: true, leased: false, gone: false });
      for (const [id, ranges] of frame.acked) {
        const dest = this.#destination(id);
        if (!dest) continue;
        for (const range of ranges) {
          for (const [seq, r] of readings) {
            if (seq < range.lo || seq > range.hi) continue;
            r.acked |= dest.bit;
            if (r.acked === this.#allAcked) readings.delete(seq);
          }
          dest.acked.add(range);
        }
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
    this.#countAckedRows();
    if (decoded < frames.length) this.#log.warn({ event: 'outbox-journal-unreadable', frames: frames.length - decoded }, `${frames.length - decoded} frames of the outbox journal passed their checksum but could not be read; their readings are lost`);
    this.#log.info({ event: 'outbox-journal-replayed', readings: this.#hot.length, reserved: this.#hotReserved.length }, `recovered ${this.#hot.length} readings from the outbox journal after an unclean stop`);
  }

  append(reading: Reading): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const unwanted = this.#unwantedBy(reading.sensorId);
    if (unwanted === this.#allAcked) {
      // A sensor every destination filters out: nothing to store, and a config to fix, so counted.
      this.#drops.add(new Map([[reading.sensorId, 1]]), 'no destination takes this sensor (see the "sensors" of each of "clouds")');
      this.#schedule();
      return 0;
    }
    const seq = ++this.#lastSeq;
    this.#hot.push({ seq, sensorId: reading.sensorId, ts: reading.ts, flags: reading.clockUnsynced === true ? FLAG_CLOCK_UNSYNCED : 0, vals: JSON.stringify(reading.values), journaled: false, leased: 0, acked: unwanted, gone: false });
    const unwritten = this.#lastSeq - this.#committedSeq;
    if (unwritten >= this.#config.commitBatch && this.#failing === undefined) this.#commit();
    else {
      if (this.#failing !== undefined && unwritten > this.#heldLimit) this.#trimHeld();
      if (this.#timer === undefined) this.#schedule();
    }
    this.#announce();
    return seq;
  }

  appendReserved(body: unknown, destination?: string): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const dest = destination === undefined ? this.#destinations[0]! : this.#destination(destination);
    if (!dest) throw new Error(`no destination "${destination}" in the outbox`);
    const seq = ++this.#lastSeq;
    this.#hotReserved.push({ seq, ts: this.#now(), body: JSON.stringify(body) ?? 'null', dest: dest.id, journaled: false, leased: false, gone: false });
    this.#schedule();
    this.#announce();
    return seq;
  }

  flush(): void {
    if (this.#closed) return;
    this.#commit();
  }

  lease({ max, from, minLive = 1, destination }: LeaseOptions): Lease | undefined {
    if (this.#closed) return undefined;
    const dest = destination === undefined ? this.#destinations[0]! : this.#destination(destination);
    if (!dest) return undefined;
    const limit = Math.max(1, Math.floor(max));
    const entries: OutboxEntry[] = [];
    const record: LeaseRecord = { dest, coldReserved: [], hotReserved: [] };
    // Command replies and events first: an operator is waiting for them.
    if (this.#coldReserved > this.#leasedReserved.size) {
      for (const [seq, ts, body] of this.#s.leaseReserved.all(dest.id, limit + this.#leasedReserved.size) as [number, number, string][]) {
        if (entries.length >= limit) break;
        if (this.#leasedReserved.has(seq)) continue;
        this.#leasedReserved.add(seq);
        record.coldReserved.push(seq);
        entries.push(this.#reservedEntry(seq, ts, body));
      }
    }
    for (const r of this.#hotReserved) {
      if (entries.length >= limit) break;
      if (r.leased || r.dest !== dest.id) continue;
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
    const dest = record.dest;
    const statement = from === 'newest' ? this.#s.leaseNewest : this.#s.leaseOldest;
    // A run holding only readings this destination does not want is acknowledged for it on the spot; the next run is read.
    for (let runs = 0; runs < 64 && this.#coldRows - dest.ackedRows > 0; runs++) {
      let found = false;
      for (const gap of gapsBetween(dest.leased.list, dest.acked.list, from)) {
        const rows = statement.all(gap.lo, gap.hi, room) as [number, string, number, number, string][];
        if (rows.length === 0) continue;
        if (from === 'newest') rows.reverse();
        const range = { lo: rows[0]![0], hi: rows[rows.length - 1]![0] };
        for (const [seq, sensorId, ts, flags, vals] of rows) if (dest.wants(sensorId)) entries.push(this.#telemetryEntry(seq, sensorId, ts, flags, vals));
        if (entries.length === 0) {
          this.#ackCold(dest, range, rows.length);
          found = true;
          break;
        }
        record.cold = { range, count: rows.length };
        dest.leased.add(range);
        return true;
      }
      if (!found) return false;
    }
    return false;
  }

  /** A run of readings from memory this destination has neither leased nor acknowledged, from one end; those it acknowledged are skipped, so a lease is still one seq range. */
  #leaseHot(room: number, from: 'oldest' | 'newest', minLive: number, record: LeaseRecord, entries: OutboxEntry[]): boolean {
    const hot = this.#hot;
    const bit = record.dest.bit;
    const taken: HotReading[] = [];
    // Held back only while fewer than a batch wait; a backlog in the table (leaseCold) never is.
    const lingering = minLive > 1;
    const open = (r: HotReading) => (r.leased & bit) === 0 && (r.acked & bit) === 0;
    if (from === 'oldest') {
      for (let i = hot.findIndex(open); i >= 0 && i < hot.length && taken.length < room && (hot[i]!.leased & bit) === 0; i++) if (open(hot[i]!)) taken.push(hot[i]!);
    } else {
      for (let i = hot.findLastIndex(open); i >= 0 && taken.length < room && (hot[i]!.leased & bit) === 0; i--) if (open(hot[i]!)) taken.push(hot[i]!);
      taken.reverse();
    }
    if (taken.length === 0 || (lingering && taken.length < Math.min(minLive, room))) return false;
    record.hot = taken;
    for (const r of taken) {
      r.leased |= bit;
      entries.push(this.#telemetryEntry(r.seq, r.sensorId, r.ts, r.flags, r.vals));
    }
    return true;
  }

  ack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    const dest = record.dest;
    if (record.cold) {
      dest.leased.remove(record.cold.range);
      this.#ackCold(dest, record.cold.range, record.cold.count);
    }
    if (record.hot) {
      // Acknowledged by every destination before they were written: nothing to write, now or ever.
      let gone = false;
      for (const r of record.hot) {
        r.leased &= ~dest.bit;
        r.acked |= dest.bit;
        if (r.acked === this.#allAcked) gone = r.gone = true;
      }
      if (record.hot.some((r) => r.journaled)) dest.journalAcks.push({ lo: record.hot[0]!.seq, hi: record.hot.at(-1)!.seq });
      if (gone) this.#hot = this.#hot.filter((r) => !r.gone);
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
    if (dest.journalAcks.length > 0 || this.#journalReservedAcks.length > 0) this.#schedule();
  }

  /** Rows of the table this destination acknowledged: `count` of them in `range`, none counted before. */
  #ackCold(dest: Progress, range: SeqRange, count: number): void {
    dest.acked.add(range);
    dest.ackedRows += count;
    dest.journalAcks.push(range);
    this.#ackedRangesChanged = true;
    this.#schedule();
  }

  #destination(id: string): Progress | undefined {
    return this.#destinations.find((d) => d.id === id);
  }

  /** The destinations that do not want this sensor's readings: their bits start acknowledged. */
  #unwantedBy(sensorId: string): number {
    let mask = 0;
    for (const dest of this.#destinations) if (!dest.wants(sensorId)) mask |= dest.bit;
    return mask;
  }

  /** Recounts each destination's acknowledged rows from its ranges (after rows were deleted, or at open). */
  #countAckedRows(): void {
    for (const dest of this.#destinations) {
      dest.ackedRows = 0;
      for (const range of dest.acked.list) dest.ackedRows += this.#s.countBetween.get(range.lo, range.hi) as number;
    }
  }

  nack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    if (record.cold) record.dest.leased.remove(record.cold.range);
    for (const r of record.hot ?? []) r.leased &= ~record.dest.bit;
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
    const matches = (r: HotReading) => r.leased === 0 && (filter.sensorId === undefined || r.sensorId === filter.sensorId) && (filter.olderThan === undefined || r.ts < filter.olderThan);
    const bySensor: SensorCounts = new Map();
    // What could not be spilled (disk full) is purged from memory.
    for (const r of this.#hot) if (matches(r)) bySensor.set(r.sensorId, (bySensor.get(r.sensorId) ?? 0) + 1);
    let purged = this.#hot.length;
    this.#hot = this.#hot.filter((r) => !matches(r));
    purged -= this.#hot.length;
    const condition = where.join(' AND ');
    const acked = this.#ackedCopies();
    try {
      purged += this.#db.transaction(() => {
        const delivered = this.#deleteAckedRows(acked);
        const fromTable: SensorCounts = new Map();
        for (const [sensor, n] of this.#db.prepare(`SELECT sensor, count(*) FROM readings WHERE ${condition} GROUP BY sensor`).raw().all(...params) as [string, number][]) fromTable.set(sensor, n);
        const changes = this.#db.prepare(`DELETE FROM readings WHERE ${condition}`).run(...params).changes;
        for (const [sensor, n] of fromTable) {
          this.#s.addDrops.run(sensor, n);
          bySensor.set(sensor, (bySensor.get(sensor) ?? 0) + n);
        }
        this.#coldRows -= changes + delivered;
        return changes;
      })();
      this.#settleAcked(acked);
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
    const pendingReserved = this.#coldReserved - this.#ackedReserved.length + this.#hotReserved.filter((r) => r.journaled).length;
    let pending = 0;
    let oldestTs: number | null = null;
    const destinations: Record<string, DestinationStats> = {};
    for (const dest of this.#destinations) {
      // Stored readings only: one not yet committed is not in the outbox's promise yet.
      let hotPending = 0;
      let oldestHotTs: number | null = null;
      for (const r of this.#hot) {
        if (!r.journaled || (r.acked & dest.bit) !== 0) continue;
        hotPending++;
        oldestHotTs ??= r.ts;
      }
      const coldPending = this.#coldRows - dest.ackedRows;
      const oldest = coldPending > 0 && !this.#closed ? this.#oldestColdTs(dest) : oldestHotTs;
      if (oldest !== null && (oldestTs === null || oldest < oldestTs)) oldestTs = oldest;
      pending = Math.max(pending, coldPending + hotPending);
      destinations[dest.id] = { pending: coldPending + hotPending, oldestTs: oldest, leased: [...this.#leases.values()].filter((l) => l.dest === dest).length, dropped: dest.dropped };
    }
    return {
      pending,
      pendingReserved,
      leased: this.#leases.size,
      oldestTs,
      bytes: this.#usedBytes + this.#journal.bytes,
      maxBytes: this.#config.maxBytes,
      dropped: this.#drops.snapshot(),
      lastSeq: this.#lastSeq,
      committedSeq: this.#committedSeq,
      commits: this.#commits,
      diskFull: this.#failing === 'full',
      ...(this.#destinations.length > 1 ? { destinations } : {}),
    };
  }

  #oldestColdTs(dest: Progress): number | null {
    for (const gap of gapsBetween([], dest.acked.list, 'oldest')) {
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
    const nothingNew = readings.length === 0 && reserved.length === 0 && this.#destinations.every((d) => d.journalAcks.length === 0) && this.#journalReservedAcks.length === 0 && !this.#drops.hasUnsaved;
    // A full commitBatch is a burst (a backlog being written, not a few sensors): written once, to SQLite directly.
    const spillDue = this.#failing !== undefined || this.#journalStale || readings.length >= this.#config.commitBatch || this.#lastSeq >= this.#seqReserved - SEQ_BLOCK / 2 || (maintenanceDue && this.#maintenanceWantsSpill(now));
    if (nothingNew && !spillDue) {
      if (maintenanceDue) this.#lastMaintenance = now;
      this.#committed(this.#lastSeq);
      return;
    }
    if (!spillDue) {
      const unsavedDrops = this.#drops.takeUnsaved();
      const frame = encodeFrame({ readings, reserved, acked: new Map(this.#destinations.map((d) => [d.id, d.journalAcks])), ackedReserved: this.#journalReservedAcks, drops: [...unsavedDrops] });
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
        for (const dest of this.#destinations) dest.journalAcks = [];
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
    if (this.#hot.some((r) => r.ts < cutoff && (r.flags & FLAG_CLOCK_UNSYNCED) === 0 && r.leased === 0)) return true;
    if (this.#coldRows === 0) return false;
    if (this.#destinations.every((d) => d.ackedRows >= this.#coldRows)) return true;
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
      while (take < hot.length && hot[take]!.leased !== 0) take++;
    }
    const moving = hot.slice(0, take);
    const rest = hot.slice(take);
    // What moves keeps its acknowledgements: per destination, the runs of moving readings it acknowledged (or does not want).
    const movingAcked = this.#destinations.map((dest) => moving.filter((r) => (r.acked & dest.bit) !== 0).length);
    const movingRuns = this.#destinations.map((dest) => {
      const runs: SeqRange[] = [];
      let run: SeqRange | undefined;
      for (const r of moving) {
        if ((r.acked & dest.bit) !== 0) run = run ? { lo: run.lo, hi: r.seq } : { lo: r.seq, hi: r.seq };
        else if (run) {
          runs.push(run);
          run = undefined;
        }
      }
      if (run) runs.push(run);
      return runs;
    });
    const acked = this.#destinations.map((dest, i) => {
      const ranges = MergedRanges.of(dest.acked.list);
      for (const run of movingRuns[i]!) ranges.add(run);
      return ranges;
    });
    // Rows out on lease to any destination, those that move now included: retention never drops them.
    const leased = this.#leasedAnywhere(moving.at(-1)?.seq ?? 0);
    const reserved = this.#hotReserved;
    const ackedReserved = this.#ackedReserved;
    const now = this.#now();
    const maintenanceDue = now - this.#lastMaintenance >= MAINTENANCE_EVERY_MS;
    const unsavedDrops = this.#drops.takeUnsaved();
    const journaledDrops = this.#journaledDrops;
    const seqReserved = Math.max(this.#seqReserved, this.#lastSeq + SEQ_BLOCK);
    const retention = { full: new Map() as SensorCounts, aged: new Map() as SensorCounts, reserved: new Map() as SensorCounts };
    const lost = this.#destinations.map(() => 0);
    const witness = this.#witness(acked, lost);
    let result: { coldRows: number; coldReserved: number; reservedBytes: number; usedBytes: number; cleared: boolean; rowsDeleted: boolean };
    try {
      result = this.#db.transaction(() => {
        let coldRows = this.#coldRows;
        let coldReserved = this.#coldReserved;
        let reservedBytes = this.#reservedStoredBytes;
        let cleared = false;
        let ackedDeleted = false;
        let ackedChanged = this.#ackedRangesChanged || moving.some((r) => r.acked !== 0);
        let rowsDeleted = false;
        if (coldRows > 0 && this.#destinations.every((d) => d.ackedRows >= coldRows && d.leased.size === 0)) {
          // The whole backlog was delivered everywhere: empty the table at once (no page is rewritten).
          this.#s.clearReadings.run();
          coldRows = 0;
          cleared = true;
          ackedChanged = true;
          // What each destination acknowledged is gone, but for the readings moving in now.
          for (const i of acked.keys()) acked[i] = MergedRanges.of(movingRuns[i]!);
        }
        for (const seq of ackedReserved) {
          const length = this.#s.deleteReserved.get(seq) as number | undefined;
          if (length === undefined) continue;
          coldReserved--;
          reservedBytes -= length;
        }
        coldRows += this.#insertReadings(moving);
        if (ackedChanged) this.#writeAcked(acked);
        for (const r of reserved) {
          coldReserved += this.#s.insertReserved.run(r.seq, r.ts, r.body, r.dest).changes;
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
            coldRows -= this.#deleteAckedRows(acked);
            ackedDeleted = true;
            coldRows -= dropOlderThan(this.#s, cutoff, retention.aged, witness);
          rowsDeleted = true;
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
        if (excess > 0 && !ackedDeleted && acked.every((ranges) => ranges.list.length > 0)) {
          // Rows every destination has go before any reading is dropped.
          coldRows -= this.#deleteAckedRows(acked);
          ackedDeleted = true;
          usedBytes = this.#measureUsedBytes();
          excess = rowsToDrop({ usedBytes: usedBytes - reservedBytes, budget: telemetryBudget(this.#config), rows: coldRows, policy: this.#config.whenFull });
        }
        if (excess > 0) {
          const drop = this.#config.whenFull === 'drop-oldest' ? dropOldest : dropNewest;
          coldRows -= drop(this.#s, leased, excess, retention.full, witness);
          rowsDeleted = true;
          usedBytes = this.#measureUsedBytes();
        }
        for (const counts of [unsavedDrops, journaledDrops, retention.full, retention.aged, retention.reserved]) for (const [sensor, n] of counts) this.#s.addDrops.run(sensor, n);
        this.#saveDestinationDrops(lost);
        return { coldRows, coldReserved, reservedBytes, usedBytes, cleared, rowsDeleted: rowsDeleted || ackedDeleted };
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
        record.dest.leased.add(record.cold.range);
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
    this.#destinationsLost(lost, 'retention (maxBytes or maxAge)');
    for (const [i, dest] of this.#destinations.entries()) {
      dest.journalAcks = [];
      dest.acked = acked[i]!;
      // Counted as they change; recounted from the table only after rows were deleted (rare: retention).
      dest.ackedRows = result.cleared ? movingAcked[i]! : dest.ackedRows + movingAcked[i]!;
    }
    if (result.rowsDeleted) this.#countAckedRows();
    this.#ackedRangesChanged = false;
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
  #deleteAckedRows(acked: MergedRanges[]): number {
    // The ranges stay: covering rows that are gone is harmless, and keeps them merged.
    let deleted = 0;
    for (const range of intersectAll(acked.map((ranges) => ranges.list))) deleted += this.#s.deleteRange.run(range.lo, range.hi).changes;
    return deleted;
  }

  /** Counts, per destination, the rows about to be deleted that it wants and had not acknowledged (by `acked`). */
  #witness(acked: MergedRanges[], lost: number[]): DropWitness {
    const count = (rows: Iterable<unknown>) => {
      for (const [seq, sensor] of rows as Iterable<[number, string]>) {
        for (const [i, dest] of this.#destinations.entries()) if (dest.wants(sensor) && !acked[i]!.contains(seq)) lost[i]!++;
      }
    };
    return { range: (lo, hi) => count(this.#s.rowsBetween.iterate(lo, hi)), aged: (boundary, cutoff) => count(this.#s.agedRows.iterate(boundary, cutoff)) };
  }

  /** Hot readings about to be dropped: each destination that had not acknowledged them lost them. */
  #hotLost(readings: readonly HotReading[]): number[] {
    return this.#destinations.map((dest) => readings.filter((r) => (r.acked & dest.bit) === 0).length);
  }

  /** Inside the spill's transaction: what each destination lost so far, kept across restarts. */
  #saveDestinationDrops(lost: number[]): void {
    for (const [i, dest] of this.#destinations.entries()) if (lost[i]! > 0 || dest.dropped !== dest.droppedSaved) this.#s.saveMeta.run(`dropped:${dest.id}`, String(dest.dropped + lost[i]!));
  }

  /** After the deletion committed (or, for memory, happened): counted, and said per destination. */
  #destinationsLost(lost: number[], reason: string, saved = true): void {
    for (const [i, dest] of this.#destinations.entries()) {
      if (lost[i]! > 0) {
        dest.dropped += lost[i]!;
        const suppressed = this.#lossLog.admit(dest.id, this.#now());
        if (suppressed >= 0 && this.#destinations.length > 1) {
          this.#log.warn({ event: 'destination-readings-dropped', destination: dest.id, count: lost[i], total: dest.dropped, reason, suppressedSinceLast: suppressed }, `destination ${dest.id} lost ${lost[i]} readings it had not acknowledged to ${reason} (${dest.dropped} in all)`);
        }
      }
      if (saved) dest.droppedSaved = dest.dropped;
    }
  }

  /** Table rows out on lease to any destination, and the hot leases up to `movingThrough` (moving into the table now). */
  #leasedAnywhere(movingThrough = 0): LeaseRanges {
    const all = new MergedRanges();
    for (const dest of this.#destinations) for (const range of dest.leased.list) all.add(range);
    for (const record of this.#leases.values()) if (record.hot && record.hot[0]!.seq <= movingThrough) all.add({ lo: record.hot[0]!.seq, hi: record.hot.at(-1)!.seq });
    return LeaseRanges.of(all.list);
  }

  #ackedCopies(): MergedRanges[] {
    return this.#destinations.map((d) => MergedRanges.of(d.acked.list));
  }

  /** After rows were deleted: each destination's acknowledgements as the transaction left them, recounted. */
  #settleAcked(acked: MergedRanges[]): void {
    for (const [i, dest] of this.#destinations.entries()) dest.acked = acked[i]!;
    this.#countAckedRows();
  }

  /** The acked_by table as `acked` says, per destination. Inside a transaction. */
  #writeAcked(acked: MergedRanges[]): void {
    this.#s.clearAcked.run();
    for (const [i, dest] of this.#destinations.entries()) for (const range of acked[i]!.list) this.#s.insertAcked.run(dest.id, range.lo, range.hi);
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
    const acked = this.#ackedCopies();
    const lost = this.#destinations.map(() => 0);
    try {
      const freed = this.#db.transaction(() => {
        let rows = this.#deleteAckedRows(acked);
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
          droppedRows = dropOldest(this.#s, this.#leasedAnywhere(), want, dropped, this.#witness(acked, lost));
          for (const [sensor, n] of dropped) this.#s.addDrops.run(sensor, n);
          this.#saveDestinationDrops(lost);
          hotDrops = want - droppedRows;
        }
        rows += droppedRows;
        return { rows, reservedRows, reservedBytes };
      })();
      // The table had too few: the oldest in memory go too (they would not fit either).
      this.#destinationsLost(lost, 'a full disk (policy drop-oldest)');
      const fromMemory: SensorCounts = new Map();
      const goneFromMemory: HotReading[] = [];
      for (const r of this.#hot) {
        if (hotDrops <= 0) break;
        if (r.leased !== 0) continue;
        r.gone = true;
        hotDrops--;
        goneFromMemory.push(r);
        fromMemory.set(r.sensorId, (fromMemory.get(r.sensorId) ?? 0) + 1);
      }
      if (fromMemory.size > 0) {
        this.#hot = this.#hot.filter((r) => !r.gone);
        this.#drops.add(fromMemory, 'disk full, policy drop-oldest');
        this.#destinationsLost(this.#hotLost(goneFromMemory), 'a full disk (policy drop-oldest)', false);
      }
      this.#coldRows -= freed.rows;
      this.#settleAcked(acked);
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
    const held = this.#hot.filter((r) => !r.journaled && r.leased === 0);
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
    this.#destinationsLost(this.#hotLost(removed), 'an outbox that cannot write', false);
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
