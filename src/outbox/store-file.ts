// Opening the outbox file: schema, pragmas for an SD card, and quarantine of a corrupt file.
import { existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { Logger } from '../log.ts';

export const SCHEMA_VERSION = 1;

export interface OpenedStore {
  db: Database.Database;
  /** Random per database file: reading ids stay unique even when a fresh file restarts seq at 1. */
  epoch: string;
  /** Set when a corrupt file was moved aside at start. */
  quarantinedAs?: string;
}

export function openStoreFile(dataDir: string, sync: 'full' | 'normal', log: Logger, maxPageCount?: number): OpenedStore {
  const path = join(dataDir, 'outbox.db');
  try {
    return { ...openAndCheck(path, sync, maxPageCount) };
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'SQLITE_CORRUPT' && code !== 'SQLITE_NOTADB' && !(error instanceof CorruptStoreError)) throw error;
    // Never delete a technician's data silently: move the file aside, say so loudly, start fresh.
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const aside = join(dataDir, `outbox.corrupt-${stamp}.db`);
    renameSync(path, aside);
    for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
    log.error({ event: 'outbox-corrupt', file: path, movedTo: aside, reason: (error as Error).message }, `the outbox file ${path} is corrupt (${(error as Error).message}); moved it to ${aside} and started a fresh outbox. Readings in the old file were not sent; keep it for recovery.`);
    return { ...openAndCheck(path, sync, maxPageCount), quarantinedAs: aside };
  }
}

class CorruptStoreError extends Error {}

function openAndCheck(path: string, sync: 'full' | 'normal', maxPageCount?: number): OpenedStore {
  const db = new Database(path);
  try {
    // auto_vacuum must be chosen before the first table exists; INCREMENTAL lets us give space back
    // after an outage has drained without a full VACUUM (which rewrites the whole file on the SD card).
    db.pragma('auto_vacuum = INCREMENTAL');
    db.pragma('journal_mode = WAL');
    db.pragma(`synchronous = ${sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('temp_store = MEMORY');
    db.pragma('cache_size = -4096');
    if (maxPageCount !== undefined) db.pragma(`max_page_count = ${maxPageCount}`);
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw new CorruptStoreError(`integrity check: ${String(check)}`);
    db.exec(`
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS readings (seq INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, flags INTEGER NOT NULL, vals TEXT NOT NULL);
      CREATE INDEX IF NOT EXISTS readings_ts ON readings (ts);
      CREATE TABLE IF NOT EXISTS reserved (seq INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, body TEXT NOT NULL);
      CREATE TABLE IF NOT EXISTS drops (sensor TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
    `);
    let epoch = (db.prepare("SELECT value FROM meta WHERE key = 'epoch'").get() as { value: string } | undefined)?.value;
    if (!epoch) {
      epoch = Math.floor(Math.random() * 36 ** 6).toString(36).padStart(6, '0');
      db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?), ('schema', ?)").run(epoch, String(SCHEMA_VERSION));
    }
    return { db, epoch };
  } catch (error) {
    db.close();
    throw error;
  }
}
