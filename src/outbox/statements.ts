// Every statement the outbox runs, prepared once at open (the hot paths never compile SQL).
import type Database from 'better-sqlite3';

/** Readings per multi-row INSERT: one call into SQLite per 32 readings instead of one per reading. */
export const ROWS_PER_INSERT = 32;

export function prepareStatements(db: Database.Database) {
  const oneRow = '(?, ?, ?, ?, ?)';
  return {
    insertOne: db.prepare(`INSERT OR IGNORE INTO readings (seq, sensor, ts, flags, vals) VALUES ${oneRow}`),
    insertMany: db.prepare(`INSERT OR IGNORE INTO readings (seq, sensor, ts, flags, vals) VALUES ${Array<string>(ROWS_PER_INSERT).fill(oneRow).join(', ')}`),
    insertReserved: db.prepare('INSERT OR IGNORE INTO reserved (seq, ts, body, dest) VALUES (?, ?, ?, ?)'),
    clearReadings: db.prepare('DELETE FROM readings'),
    clearAcked: db.prepare('DELETE FROM acked_by'),
    insertAcked: db.prepare('INSERT OR REPLACE INTO acked_by (dest, lo, hi) VALUES (?, ?, ?)'),
    countBetween: db.prepare('SELECT count(*) FROM readings WHERE seq BETWEEN ? AND ?').pluck(),
    anyAged: db.prepare('SELECT 1 FROM readings WHERE seq < ? AND ts < ? AND (flags & 1) = 0 LIMIT 1').pluck(),
    deleteRange: db.prepare('DELETE FROM readings WHERE seq BETWEEN ? AND ?'),
    /** Returns the deleted body's length (undefined when there was no such row): the reserved lane's byte count follows. */
    deleteReserved: db.prepare('DELETE FROM reserved WHERE seq = ? RETURNING length(body)').pluck(),
    leaseOldest: db.prepare('SELECT seq, sensor, ts, flags, vals FROM readings WHERE seq > ? AND seq < ? ORDER BY seq LIMIT ?').raw(),
    leaseNewest: db.prepare('SELECT seq, sensor, ts, flags, vals FROM readings WHERE seq > ? AND seq < ? ORDER BY seq DESC LIMIT ?').raw(),
    leaseReserved: db.prepare('SELECT seq, ts, body FROM reserved WHERE dest = ? ORDER BY seq LIMIT ?').raw(),
    reservedSizes: db.prepare('SELECT seq, length(body) FROM reserved ORDER BY seq').raw(),
    oldestTs: db.prepare('SELECT ts FROM readings ORDER BY seq LIMIT 1').pluck(),
    usedPages: db.prepare('SELECT page_count - freelist_count FROM pragma_page_count(), pragma_freelist_count()').pluck(),
    freePages: db.prepare('SELECT freelist_count FROM pragma_freelist_count()').pluck(),
    pageCount: db.prepare('SELECT page_count FROM pragma_page_count()').pluck(),
    saveMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    addDrops: db.prepare('INSERT INTO drops (sensor, count) VALUES (?, ?) ON CONFLICT (sensor) DO UPDATE SET count = count + excluded.count'),
    nthOldest: db.prepare('SELECT seq FROM readings WHERE seq > ? AND seq < ? ORDER BY seq LIMIT 1 OFFSET ?').pluck(),
    nthNewest: db.prepare('SELECT seq FROM readings WHERE seq > ? AND seq < ? ORDER BY seq DESC LIMIT 1 OFFSET ?').pluck(),
    countRange: db.prepare('SELECT sensor, count(*) FROM readings WHERE seq BETWEEN ? AND ? GROUP BY sensor').raw(),
    // The first reading young enough to keep, in seq order; everything older before it may go.
    ageBoundary: db.prepare('SELECT seq FROM readings WHERE ts >= ? AND (flags & 1) = 0 ORDER BY seq LIMIT 1').pluck(),
    countAged: db.prepare('SELECT sensor, count(*) FROM readings WHERE seq < ? AND ts < ? AND (flags & 1) = 0 GROUP BY sensor').raw(),
    deleteAged: db.prepare('DELETE FROM readings WHERE seq < ? AND ts < ? AND (flags & 1) = 0'),
    // The rows a drop is about to delete, to count what each destination had not acknowledged.
    rowsBetween: db.prepare('SELECT seq, sensor FROM readings WHERE seq BETWEEN ? AND ?').raw(),
    agedRows: db.prepare('SELECT seq, sensor FROM readings WHERE seq < ? AND ts < ? AND (flags & 1) = 0').raw(),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** What the file already holds, read once at open. */
export function readStoredState(db: Database.Database) {
  const one = (sql: string) => db.prepare(sql).pluck().get() as number | string | null | undefined;
  return {
    // seqReserved: ids are handed out from a reserved block, so a reading delivered before it was
    // ever written cannot have its id reused after a restart (see sqlite-outbox.ts).
    lastSeq: Math.max(Number(one('SELECT max(seq) FROM readings') ?? 0), Number(one('SELECT max(seq) FROM reserved') ?? 0), Number(one("SELECT value FROM meta WHERE key = 'lastSeq'") ?? 0), Number(one("SELECT value FROM meta WHERE key = 'seqReserved'") ?? 0)),
    journalApplied: Number(one("SELECT value FROM meta WHERE key = 'journalApplied'") ?? 0),
    acked: db.prepare('SELECT dest, lo, hi FROM acked_by ORDER BY dest, lo').raw().all() as [string, number, number][],
    rows: Number(one('SELECT count(*) FROM readings')),
    pendingReserved: Number(one('SELECT count(*) FROM reserved')),
    reservedBytes: Number(one('SELECT coalesce(sum(length(body)), 0) FROM reserved')),
    drops: db.prepare('SELECT sensor, count FROM drops').all() as { sensor: string; count: number }[],
    /** Per destination: readings dropped before it acknowledged them. */
    destinationDrops: new Map((db.prepare("SELECT substr(key, 9), value FROM meta WHERE key LIKE 'dropped:%'").raw().all() as [string, string][]).map(([dest, n]) => [dest, Number(n)])),
    pageSize: Number(db.pragma('page_size', { simple: true })),
  };
}
