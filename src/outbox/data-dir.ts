// The data directory must be writable before anything is stored in it: an agent that cannot write
// its outbox would accept readings and lose them, so it refuses to start with a fix in the message.
import { accessSync, constants, mkdirSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { DataDirError } from '../errors.ts';

/** Creates `dir` if needed and checks that it (and an existing outbox.db in it) can be written. */
export function ensureWritableDataDir(dir: string, fileName = 'outbox.db'): void {
  const user = currentUserName();
  const fix = `for example: sudo mkdir -p ${dir} && sudo chown ${user}: ${dir}`;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    accessSync(dir, constants.W_OK | constants.R_OK | constants.X_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new DataDirError(`cannot use the data directory ${dir} (${code}): it must be a directory the agent's user (${user}) can write; ${fix}`, { cause: error });
  }
  const file = join(dir, fileName);
  try {
    accessSync(file, constants.W_OK | constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    // Typically left behind by a run as root: SQLite would open it read-only and fail on the first write.
    throw new DataDirError(`cannot write the outbox file ${file} (${code ?? String(error)}); for example: sudo chown -R ${user}: ${dir}`, { cause: error });
  }
}

function currentUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'edge-agent';
  }
}
