// Opening the outbox file: pragmas chosen for SD cards and power cuts, the schema, and quarantine of
// a corrupt file. Nothing outside src/outbox touches SQL.
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { ensureWritableDataDir } from './data-dir.ts';
import type { Logger } from '../log.ts';
import { isCorruption, quarantine } from './quarantine.ts';
import { applySchema } from './schema.ts';
import { guardStoreFiles } from './store-file-guard.ts';

export const STORE_FILE = 'outbox.db';

export interface StoreFileOptions {
  dataDir: string;
  sync: 'full' | 'normal';
  log: Logger;
  now: () => number;
  /** Caps the file at this many pages (tests provoke SQLITE_FULL with it). */
  maxPageCount?: number;
}

export interface OpenedStore {
  db: Database.Database;
  path: string;
  epoch: string;
  /** Set when a corrupt file was moved aside at start. */
  quarantinedAs?: string;
}

export function openStoreFile(options: StoreFileOptions): OpenedStore {
  ensureWritableDataDir(options.dataDir, STORE_FILE);
  const path = join(options.dataDir, STORE_FILE);
  try {
    return openAndCheck(path, options);
  } catch (error) {
    if (!isCorruption(error)) throw error;
    const aside = quarantine(path, new Date(options.now()));
    const reason = (error as Error).message;
    options.log.error(
      { event: 'outbox-corrupt', file: path, movedTo: aside, reason },
      `the outbox file ${path} is corrupt (${reason}); moved it to ${aside} and started an empty outbox. Readings in the old file were not sent: keep it for recovery (sqlite3 "${aside}" .recover), delete it when no longer needed`,
    );
    return { ...openAndCheck(path, options), quarantinedAs: aside };
  }
}

function openAndCheck(path: string, options: StoreFileOptions): OpenedStore {
  guardStoreFiles(path, options.log);
  const db = new Database(path);
  try {
    // Must precede the first table; INCREMENTAL gives pages back after an outage drained, without a
    // full VACUUM that would rewrite the whole file on the SD card.
    db.pragma('auto_vacuum = INCREMENTAL');
    // A rollback journal, not WAL: every commit goes to the outbox journal (journal.ts) and SQLite
    // sees only rare, large transactions (a full journal moved over, a drained backlog emptied).
    // For those, a rollback journal writes each new page once; WAL writes it twice (WAL, then the
    // checkpoint). bench/flash-wear.ts measures both. An old file in WAL mode is converted here.
    db.pragma('journal_mode = TRUNCATE');
    // FULL: a transaction is on the card when it returns. https://www.sqlite.org/pragma.html#pragma_synchronous
    db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`);
    db.pragma('temp_store = MEMORY');
    // 2 MB page cache: appends and leases touch the two ends of one b-tree, so a bigger cache buys
    // no speed (bench/outbox.ts: same rates at 4 MB) and RSS stays flat with a million-reading backlog.
    db.pragma('cache_size = -2048');
    if (options.maxPageCount !== undefined) db.pragma(`max_page_count = ${options.maxPageCount}`);
    // Reads every page of the b-trees, not the content: catches a torn or truncated file at start.
    const check = db.pragma('quick_check(1)', { simple: true });
    if (check !== 'ok') throw Object.assign(new Error(`integrity check failed: ${String(check)}`), { code: 'SQLITE_CORRUPT' });
    const epoch = applySchema(db, path);
    return { db, path, epoch };
  } catch (error) {
    db.close();
    throw error;
  }
}
