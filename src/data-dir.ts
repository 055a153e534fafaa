// The agent's state directory (outbox, stored cloud credentials, status socket): created on first
// use, a clear answer when the service user cannot write it, and a warning when other users can
// look inside (readings and credentials are nobody else's business).
import { statSync } from 'node:fs';
import type { Logger } from './log.ts';
import { ensureWritableDataDir } from './outbox/data-dir.ts';

export function ensureDataDir(dir: string, log?: Logger): void {
  ensureWritableDataDir(dir);
  const mode = statSync(dir).mode & 0o777;
  if ((mode & 0o007) !== 0 && log) {
    const octal = mode.toString(8).padStart(4, '0');
    log.warn(
      { event: 'data-dir-open-to-others', dataDir: dir, mode: octal },
      `the data directory ${dir} is mode ${octal}: other users can look inside. The agent's own files are owner-only, but anything else put there is not; chmod o-rwx ${dir}`,
    );
  }
}
