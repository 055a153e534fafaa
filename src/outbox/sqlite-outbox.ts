// The durable outbox on SQLite. Appends are buffered and written in one transaction per commit
// window (one fsync per window with sync=full, never one per reading); acks are folded into the
// same transactions. Leases live in memory only: after a crash everything unacked is sent again.
import type Database from 'better-sqlite3';
import { RateLimitedLog, type Logger } from '../log.ts';
import type { FieldValue, Reading } from '../sources/reading.ts';
import type { OutboxConfig } from './config.ts';
import { LeaseRanges, type SeqRange } from './lease-ranges.ts';
import type { Lease, LeaseOptions, Outbox, OutboxEntry, OutboxStats } from './outbox.ts';
import { openStoreFile } from './store-file.ts';

export interface OpenOutboxOptions {
  dataDir: string;
  agentId: string;
  config: OutboxConfig;
  log: Logger;
  now?: () => number;
  /** Tests: cap the file at this many pages to provoke SQLITE_FULL. */
  maxPageCount?: number;
}

interface Pending {
  seq: number;
  sensor: string;
  ts: number;
  flags: number;
  vals: string;
}

interface LeaseRecord {
  telemetry?: SeqRange;
  reserved: number[];
}

const FLAG_CLOCK_UNSYNCED = 1;
/** Readings held in memory while the disk is full, at most; beyond that the whenFull policy drops. */
const MAX_BUFFER_WHILE_FULL = 100_000;
const MAINTENANCE_EVERY_MS = 60_000;
const RESERVED_SENSOR = '$replies';

export function openOutbox(options: OpenOutboxOptions): Outbox {
  return new SqliteOutbox(options);
}

class SqliteOutbox implements Outbox {
  readonly #db: Database.Database;
  readonly #config: OutboxConfig;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #idPrefix: string;
  readonly #rateLimited = new RateLimitedLog(60_000);
  readonly #statements;
  readonly #leases = new Map<number, LeaseRecord>();
  readonly #leasedTelemetry = new LeaseRanges();
  readonly #leasedReserved = new Set<number>();
  readonly #listeners = new Set<(committedSeq: number) => void>();
  readonly #dropped = new Map<string, number>();
  #buffer: Pending[] = [];
  #reservedBuffer: { ts: number; body: string }[] = [];
  #ackedRanges: SeqRange[] = [];
  #ackedReserved: number[] = [];
  #timer: NodeJS.Timeout | undefined;
  #nextSeq: number;
  #committedSeq: number;
  #pending: number;
  #pendingReserved: number;
  #reservedBytes: number;
  #nextLeaseId = 1;
  #commits = 0;
  #diskFull = false;
  #closed = false;
  #lastMaintenance = 0;
  #usedBytes = 0;
  readonly #pageSize: number;

  constructor(options: OpenOutboxOptions) {
    this.#config = options.config;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    const opened = openStoreFile(options.dataDir, options.config.sync, options.log, options.maxPageCount);
    this.#db = opened.db;
    this.#idPrefix = `${options.agentId}-${opened.epoch}-`;
    const db = this.#db;
    this.#statements = {
      insert: db.prepare('INSERT INTO readings (seq, sensor, ts, flags, vals) VALUES (?, ?, ?, ?, ?)'),
      insertReserved: db.prepare('INSERT INTO reserved (ts, body) VALUES (?, ?)'),
      deleteRange: db.prepare('DELETE FROM readings WHERE seq BETWEEN ? AND ?'),
      deleteReserved: db.prepare('DELETE FROM reserved WHERE seq = ?'),
      oldest: db.prepare('SELECT seq, sensor, ts, flags, vals FROM readings WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?'),
      newest: db.prepare('SELECT seq, sensor, ts, flags, vals FROM readings WHERE seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?'),
      reserved: db.prepare('SELECT seq, ts, body FROM reserved ORDER BY seq LIMIT ?'),
      oldestTs: db.prepare('SELECT ts FROM readings ORDER BY seq LIMIT 1').pluck(),
      addDrop: db.prepare('INSERT INTO drops (sensor, count) VALUES (?, ?) ON CONFLICT (sensor) DO UPDATE SET count = count + excluded.count'),
    };
    for (const row of db.prepare('SELECT sensor, count FROM drops').all() as { sensor: string; count: number }[]) this.#dropped.set(row.sensor, row.count);
    const maxSeq = (db.prepare('SELECT max(seq) FROM readings').pluck().get() as number | null) ?? 0;
    const storedMax = Number((db.prepare("SELECT value FROM meta WHERE key = 'lastSeq'").pluck().get() as string | undefined) ?? 0);
    this.#nextSeq = Math.max(maxSeq, storedMax) + 1;
    this.#committedSeq = this.#nextSeq - 1;
    this.#pending = db.prepare('SELECT count(*) FROM readings').pluck().get() as number;
    this.#pendingReserved = db.prepare('SELECT count(*) FROM reserved').pluck().get() as number;
    this.#reservedBytes = (db.prepare('SELECT coalesce(sum(length(body)), 0) FROM reserved').pluck().get() as number) ?? 0;
    this.#pageSize = db.pragma('page_size', { simple: true }) as number;
    this.#saveLastSeq = db.prepare("INSERT INTO meta (key, value) VALUES ('lastSeq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    this.#refreshUsedBytes();
    this.#maintain();
  }

  readonly #saveLastSeq: Database.Statement;

  append(reading: Reading): number {
    if (this.#closed) throw new Error('the outbox is closed');
    const seq = this.#nextSeq++;
    this.#buffer.push({ seq, sensor: reading.sensorId, ts: reading.ts, flags: reading.clockUnsynced ? FLAG_CLOCK_UNSYNCED : 0, vals: JSON.stringify(reading.values) });
    if (this.#buffer.length >= this.#config.commitBatch && !this.#diskFull) this.flush();
    else this.#schedule();
    return seq;
  }

  appendReserved(body: unknown): number {
    if (this.#closed) throw new Error('the outbox is closed');
    this.#reservedBuffer.push({ ts: this.#now(), body: JSON.stringify(body) });
    this.#schedule();
    return this.#reservedBuffer.length;
  }

  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#buffer.length === 0 && this.#reservedBuffer.length === 0 && this.#ackedRanges.length === 0 && this.#ackedReserved.length === 0) return;
    this.#commit();
  }

  lease(options: LeaseOptions): Lease | undefined {
    const entries: OutboxEntry[] = [];
    const record: LeaseRecord = { reserved: [] };
    // Command replies first: an operator is waiting for them.
    if (this.#pendingReserved > this.#leasedReserved.size) {
      for (const row of this.#statements.reserved.all(options.max + this.#leasedReserved.size) as { seq: number; ts: number; body: string }[]) {
        if (this.#leasedReserved.has(row.seq) || this.#ackedReserved.includes(row.seq)) continue;
        if (entries.length >= options.max) break;
        this.#leasedReserved.add(row.seq);
        record.reserved.push(row.seq);
        entries.push({ seq: row.seq, id: `${this.#idPrefix}r${row.seq}`, lane: 'reserved', sensorId: RESERVED_SENSOR, ts: row.ts, values: {}, body: JSON.parse(row.body) as unknown });
      }
    }
    const room = options.max - entries.length;
    if (room > 0 && this.#pending > 0) {
      const statement = options.from === 'oldest' ? this.#statements.oldest : this.#statements.newest;
      for (const gap of this.#leasedTelemetry.gaps(options.from)) {
        const rows = statement.all(gap.lo, gap.hi, room) as Pending[];
        if (rows.length === 0) continue;
        const first = rows[0]!.seq;
        const last = rows[rows.length - 1]!.seq;
        record.telemetry = { lo: Math.min(first, last), hi: Math.max(first, last) };
        this.#leasedTelemetry.add(record.telemetry);
        if (options.from === 'newest') rows.reverse();
        for (const row of rows) {
          const entry: OutboxEntry = { seq: row.seq, id: this.#idPrefix + row.seq, lane: 'telemetry', sensorId: row.sensor, ts: row.ts, values: JSON.parse(row.vals) as Record<string, FieldValue> };
          if (row.flags & FLAG_CLOCK_UNSYNCED) entry.clockUnsynced = true;
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
    // The range stays leased until the delete is committed, so it is never handed out twice.
    if (record.telemetry) this.#ackedRanges.push(record.telemetry);
    this.#ackedReserved.push(...record.reserved);
    this.#schedule();
  }

  nack(leaseId: number): void {
    const record = this.#leases.get(leaseId);
    if (!record) return;
    this.#leases.delete(leaseId);
    if (record.telemetry) this.#leasedTelemetry.remove(record.telemetry);
    for (const seq of record.reserved) this.#leasedReserved.delete(seq);
  }

  purge(filter: { sensorId?: string; olderThan?: number }): number {
    this.flush();
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
    return this.#dropWhere(where.join(' AND '), params, 'purged by command');
  }

  recordDropped(sensorId: string, count: number, reason: string): void {
    if (count <= 0) return;
    this.#countDrops(new Map([[sensorId, count]]), reason);
  }

  stats(): OutboxStats {
    return {
      pending: this.#pending,
      pendingReserved: this.#pendingReserved,
      leased: this.#leases.size,
      oldestTs: this.#pending > 0 ? ((this.#statements.oldestTs.get() as number | undefined) ?? null) : null,
      bytes: this.#usedBytes,
      maxBytes: this.#config.maxBytes,
      dropped: Object.fromEntries(this.#dropped),
      lastSeq: this.#nextSeq - 1,
      committedSeq: this.#committedSeq,
      commits: this.#commits,
      diskFull: this.#diskFull,
    };
  }

  onCommit(listener: (committedSeq: number) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    clearTimeout(this.#timer);
    try {
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // A checkpoint is housekeeping; the WAL is replayed at the next open anyway.
    }
    this.#db.close();
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.flush();
    }, this.#diskFull ? Math.max(this.#config.commitInterval, 1000) : this.#config.commitInterval);
    // The outbox must never keep the process alive on its own; close() flushes what is left.
    this.#timer.unref();
  }

  #commit(): void {
    const batch = this.#buffer;
    const reserved = this.#reservedBuffer;
    const acked = this.#ackedRanges;
    const ackedReserved = this.#ackedReserved;
    let deleted = 0;
    let deletedReserved = 0;
    const write = this.#db.transaction(() => {
      for (const range of acked) deleted += this.#statements.deleteRange.run(range.lo, range.hi).changes;
      for (const seq of ackedReserved) deletedReserved += this.#statements.deleteReserved.run(seq).changes;
      for (const p of batch) this.#statements.insert.run(p.seq, p.sensor, p.ts, p.flags, p.vals);
      for (const r of reserved) this.#statements.insertReserved.run(r.ts, r.body);
      if (batch.length > 0) this.#saveLastSeq.run(String(batch[batch.length - 1]!.seq));
    });
    try {
      write();
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_FULL') {
        this.#onDiskFull();
        return;
      }
      throw error;
    }
    if (this.#diskFull) {
      this.#diskFull = false;
      this.#log.warn({ event: 'outbox-disk-recovered' }, 'the outbox can write again: disk space is back');
    }
    this.#buffer = [];
    this.#reservedBuffer = [];
    this.#ackedRanges = [];
    this.#ackedReserved = [];
    for (const range of acked) this.#leasedTelemetry.remove(range);
    for (const seq of ackedReserved) this.#leasedReserved.delete(seq);
    this.#pending += batch.length - deleted;
    this.#pendingReserved += reserved.length - deletedReserved;
    this.#reservedBytes += reserved.reduce((sum, r) => sum + r.body.length, 0);
    if (this.#pendingReserved === 0) this.#reservedBytes = 0;
    this.#commits++;
    if (batch.length > 0) this.#committedSeq = batch[batch.length - 1]!.seq;
    this.#refreshUsedBytes();
    this.#enforceLimits();
    if (this.#now() - this.#lastMaintenance >= MAINTENANCE_EVERY_MS) this.#maintain();
    if (batch.length > 0 || reserved.length > 0) for (const listener of this.#listeners) listener(this.#committedSeq);
  }

  #onDiskFull(): void {
    if (!this.#diskFull) this.#log.error({ event: 'outbox-disk-full', buffered: this.#buffer.length }, `the disk holding the outbox is full: readings are held in memory (up to ${MAX_BUFFER_WHILE_FULL}) and the ${this.#config.whenFull} policy applies; free space on the data partition`);
    this.#diskFull = true;
    // Make room the way the policy says: drop stored readings (drop-oldest) or the newest ones.
    if (this.#config.whenFull === 'drop-oldest' && this.#pending > 0) {
      try {
        this.#dropOldest(Math.max(this.#config.commitBatch, Math.ceil(this.#pending / 100)), 'disk full');
      } catch {
        // Even a delete can fail on a full disk; the memory bound below still holds.
      }
    }
    const excess = this.#buffer.length - MAX_BUFFER_WHILE_FULL;
    if (excess > 0) {
      const dropped = this.#config.whenFull === 'drop-oldest' ? this.#buffer.splice(0, excess) : this.#buffer.splice(MAX_BUFFER_WHILE_FULL);
      this.#countDrops(countBySensor(dropped), 'disk full');
    }
    this.#schedule();
  }

  #enforceLimits(): void {
    if (this.#usedBytes > this.#config.maxBytes && this.#pending > 0) {
      const average = this.#usedBytes / Math.max(1, this.#pending);
      const excess = Math.ceil((this.#usedBytes - this.#config.maxBytes * 0.95) / average);
      if (this.#config.whenFull === 'drop-oldest') this.#dropOldest(excess, `outbox larger than maxBytes (${this.#config.maxBytes} bytes)`);
      else this.#dropNewest(excess, `outbox larger than maxBytes (${this.#config.maxBytes} bytes)`);
      this.#refreshUsedBytes();
    }
    if (this.#reservedBytes > this.#config.reservedBytes) {
      const rows = this.#db.prepare('SELECT seq, length(body) AS size FROM reserved ORDER BY seq').all() as { seq: number; size: number }[];
      let bytes = this.#reservedBytes;
      let count = 0;
      for (const row of rows) {
        if (bytes <= this.#config.reservedBytes * 0.9 || this.#leasedReserved.has(row.seq)) break;
        this.#statements.deleteReserved.run(row.seq);
        bytes -= row.size;
        count++;
      }
      this.#reservedBytes = bytes;
      this.#pendingReserved -= count;
      this.#countDrops(new Map([[RESERVED_SENSOR, count]]), 'reserved lane full');
    }
  }

  #dropOldest(count: number, reason: string): void {
    // Never drop what is out on lease: it may be acknowledged any moment.
    const gap = this.#leasedTelemetry.gaps('oldest')[0]!;
    const cutoff = this.#db.prepare('SELECT seq FROM readings WHERE seq > ? AND seq < ? ORDER BY seq LIMIT 1 OFFSET ?').pluck().get(gap.lo, gap.hi, count - 1) as number | undefined;
    const upper = cutoff ?? gap.hi - 1;
    this.#dropWhere('seq > ? AND seq <= ?', [gap.lo, upper], reason);
  }

  #dropNewest(count: number, reason: string): void {
    const gap = this.#leasedTelemetry.gaps('newest')[0]!;
    const cutoff = this.#db.prepare('SELECT seq FROM readings WHERE seq > ? AND seq < ? ORDER BY seq DESC LIMIT 1 OFFSET ?').pluck().get(gap.lo, gap.hi, count - 1) as number | undefined;
    this.#dropWhere('seq >= ? AND seq < ?', [cutoff ?? gap.lo + 1, gap.hi], reason);
  }

  #dropWhere(where: string, params: (string | number)[], reason: string): number {
    const bySensor = new Map<string, number>();
    let total = 0;
    this.#db.transaction(() => {
      for (const row of this.#db.prepare(`SELECT sensor, count(*) AS n FROM readings WHERE ${where} GROUP BY sensor`).all(...params) as { sensor: string; n: number }[]) {
        bySensor.set(row.sensor, row.n);
      }
      total = this.#db.prepare(`DELETE FROM readings WHERE ${where}`).run(...params).changes;
    })();
    this.#pending -= total;
    this.#countDrops(bySensor, reason);
    return total;
  }

  #countDrops(bySensor: Map<string, number>, reason: string): void {
    let total = 0;
    for (const [sensor, n] of bySensor) {
      if (n <= 0) continue;
      total += n;
      this.#dropped.set(sensor, (this.#dropped.get(sensor) ?? 0) + n);
      try {
        this.#statements.addDrop.run(sensor, n);
      } catch {
        // The counter in memory still shows it; the disk may be the reason we drop.
      }
    }
    if (total === 0) return;
    const suppressed = this.#rateLimited.admit(`drop:${reason}`, this.#now());
    if (suppressed >= 0) {
      this.#log.warn({ event: 'outbox-dropped', count: total, reason, bySensor: Object.fromEntries(bySensor), suppressedSinceLast: suppressed }, `dropped ${total} readings: ${reason}`);
    }
  }

  #maintain(): void {
    this.#lastMaintenance = this.#now();
    const cutoff = this.#now() - this.#config.maxAge;
    // Old readings leave even when leased: the lease's ack then deletes nothing, which is harmless.
    if (this.#pending > 0 && ((this.#statements.oldestTs.get() as number | undefined) ?? Infinity) < cutoff) {
      this.#dropWhere('ts < ?', [cutoff], `older than maxAge (${Math.round(this.#config.maxAge / 3_600_000)} h)`);
    }
    // Give space back once an outage has drained, without rewriting the whole file.
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    if (free > 256 && free > pages / 4) {
      this.#db.pragma(`incremental_vacuum(${free})`);
      this.#db.pragma('wal_checkpoint(TRUNCATE)');
    }
    this.#refreshUsedBytes();
  }

  #refreshUsedBytes(): void {
    const pages = this.#db.pragma('page_count', { simple: true }) as number;
    const free = this.#db.pragma('freelist_count', { simple: true }) as number;
    this.#usedBytes = (pages - free) * this.#pageSize;
  }
}

function countBySensor(items: Pending[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) counts.set(item.sensor, (counts.get(item.sensor) ?? 0) + 1);
  return counts;
}
