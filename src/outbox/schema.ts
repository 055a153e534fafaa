// The outbox's tables, versioned with PRAGMA user_version so a later agent can migrate an old file.
import type Database from 'better-sqlite3';
import { AgentError, ExitCode } from '../errors.ts';

export const SCHEMA_VERSION = 3;

/** The destination of a config with one `cloud` section; what a file from before destinations was delivering to. */
export const SINGLE_DESTINATION = 'cloud';

/** Migrations from version N-1 to N, by index N-1. Append only; never edit a shipped one. */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
  -- No index on ts: it would double the cost of every insert. Age retention walks seq order instead.
  CREATE TABLE readings (seq INTEGER PRIMARY KEY, sensor TEXT NOT NULL, ts INTEGER NOT NULL, flags INTEGER NOT NULL, vals TEXT NOT NULL);
  CREATE TABLE reserved (seq INTEGER PRIMARY KEY, ts INTEGER NOT NULL, body TEXT NOT NULL);
  CREATE TABLE drops (sensor TEXT PRIMARY KEY, count INTEGER NOT NULL) WITHOUT ROWID;
  `,
  // Readings the cloud acknowledged, as seq ranges, until the whole table can be emptied at once:
  // deleting rows one range at a time rewrites (and journals) every page they were on.
  `
  CREATE TABLE acked (lo INTEGER PRIMARY KEY, hi INTEGER NOT NULL);
  `,
  // Several destinations: each acknowledges on its own, and a reply goes to the one its command came from.
  `
  CREATE TABLE acked_by (dest TEXT NOT NULL, lo INTEGER NOT NULL, hi INTEGER NOT NULL, PRIMARY KEY (dest, lo)) WITHOUT ROWID;
  INSERT INTO acked_by (dest, lo, hi) SELECT 'cloud', lo, hi FROM acked;
  DROP TABLE acked;
  ALTER TABLE reserved ADD COLUMN dest TEXT NOT NULL DEFAULT 'cloud';
  `,
];

/** Brings the file to SCHEMA_VERSION; returns the store's epoch (random per file, part of every reading id). */
export function applySchema(db: Database.Database, path: string): string {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > SCHEMA_VERSION) {
    throw new AgentError(`the outbox ${path} was written by a newer edge-agent (schema ${version}, this one knows ${SCHEMA_VERSION}); upgrade the agent, or move the file aside to start an empty outbox`, ExitCode.software);
  }
  if (version < SCHEMA_VERSION) {
    db.transaction(() => {
      for (let v = version; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
    })();
  }
  const stored = db.prepare("SELECT value FROM meta WHERE key = 'epoch'").pluck().get() as string | undefined;
  if (stored !== undefined) return stored;
  // Random, not time-based: a Pi without an RTC boots at the same fake time again and again.
  const epoch = Math.floor(Math.random() * 36 ** 8).toString(36).padStart(8, '0');
  db.prepare("INSERT INTO meta (key, value) VALUES ('epoch', ?)").run(epoch);
  return epoch;
}
