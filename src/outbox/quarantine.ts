// A corrupt outbox is moved aside, never deleted: it may hold a technician's only copy of an outage.
import { existsSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** SQLite result codes that mean the file itself is damaged (not a full disk or a permission problem). */
export function isCorruption(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB' || (typeof code === 'string' && code.startsWith('SQLITE_CORRUPT_'));
}

/** Renames `path` (and its -wal and -shm files) to `outbox.corrupt-<time>.db` beside it; returns the new path. */
export function quarantine(path: string, now: Date): string {
  const stamp = now.toISOString().replace(/[:.]/g, '-');
  const stem = basename(path, '.db');
  let aside = join(dirname(path), `${stem}.corrupt-${stamp}.db`);
  for (let n = 2; existsSync(aside); n++) aside = join(dirname(path), `${stem}.corrupt-${stamp}-${n}.db`);
  // The WAL first: a -wal left beside a fresh outbox.db would be replayed into it.
  for (const suffix of ['-wal', '-shm']) if (existsSync(path + suffix)) renameSync(path + suffix, aside + suffix);
  renameSync(path, aside);
  return aside;
}
