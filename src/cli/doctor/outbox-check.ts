// Outbox health: from the running agent when it answers on its status socket (no second writer on
// the database), else from the file itself (SQLite's own consistency check, read-only).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import bytes from 'bytes';
import { STORE_FILE } from '../../outbox/store-file.ts';
import type { StatusSnapshot } from '../../status/snapshot.ts';
import { fail, ok, warn, type CheckResult } from './check.ts';

/** A backlog older than this means the link has been down, or too slow, for long. */
const STALE_BACKLOG_MS = 60 * 60 * 1000;

export function checkOutboxOfRunningAgent(snapshot: StatusSnapshot, now = Date.now()): CheckResult {
  const o = snapshot.outbox;
  const dropped = Object.values(o.dropped).reduce((sum, n) => sum + n, 0);
  const summary = `${o.pending} pending, ${bytes(o.bytes)} of ${bytes(o.maxBytes)}${dropped ? `, ${dropped} dropped since start` : ''}`;
  if (o.diskFull) return fail('outbox', `the disk is full: ${summary}`, `free space under ${snapshot.configFile ? 'agent.dataDir' : 'the data directory'}; readings are held, then dropped by the outbox policy`);
  if (o.oldestTs !== null && now - o.oldestTs > STALE_BACKLOG_MS) {
    const hours = ((now - o.oldestTs) / 3_600_000).toFixed(1);
    return warn('outbox', `${summary}; the oldest unsent reading is ${hours} h old (link ${snapshot.link.state})`, 'see the cloud checks above and: edge-agent status');
  }
  if (dropped > 0) return warn('outbox', summary, 'readings were dropped by retention: raise outbox.maxBytes / maxAge, or fix the link sooner');
  return ok('outbox', `${summary} (link ${snapshot.link.state})`);
}

export function checkOutboxFile(dataDir: string): CheckResult {
  const file = join(dataDir, STORE_FILE);
  if (!existsSync(file)) return ok('outbox', `no ${file} yet (created at the first start)`);
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: true, fileMustExist: true });
    const result = db.pragma('quick_check', { simple: true });
    if (result !== 'ok') return fail('outbox', `${file} is damaged: ${String(result)}`, `stop the agent, move ${file} aside (its readings are lost), start again`);
    return ok('outbox', `${file} consistent (agent not running)`);
  } catch (error) {
    return fail('outbox', `cannot open ${file}: ${(error as Error).message}`, `check its owner (sudo chown -R edge-agent: ${dataDir}) and that the disk is healthy (dmesg)`);
  } finally {
    db?.close();
  }
}
