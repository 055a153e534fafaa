// Before SQLite opens the outbox: no links where its files belong, and owner-only files. SQLite
// follows a symlinked outbox.db (or -wal, -shm) and writes wherever it points; and it creates files
// 0644 minus the umask, so readings were readable by every local user when started by hand.
// SQLite gives -wal and -shm the mode of the database file (unixOpen → findCreateFileMode,
// https://www.sqlite.org/src/file/src/os_unix.c), so creating outbox.db 0600 first covers all three.
import { closeSync, chmodSync, constants, lstatSync, openSync, readlinkSync } from 'node:fs';
import type { Logger } from '../log.ts';
import { DataDirError } from '../errors.ts';

/** The files SQLite keeps beside the outbox; a rollback journal exists only mid-migration of an old file. */
const COMPANIONS = ['', '-wal', '-shm', '-journal'];

/** Refuses links and non-files at the outbox's paths, tightens existing files to 0600, creates a missing outbox.db 0600. */
export function guardStoreFiles(path: string, log: Logger): void {
  for (const suffix of COMPANIONS) {
    const file = path + suffix;
    let stat;
    try {
      stat = lstatSync(file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (stat.isSymbolicLink()) {
      throw new DataDirError(`refusing to open the outbox: ${file} is a symbolic link (to ${readlinkSync(file)}), and the agent never writes through links in its data directory. Remove the link (rm ${file}); to keep the outbox on another disk, point agent.dataDir there instead`);
    }
    if (!stat.isFile()) throw new DataDirError(`refusing to open the outbox: ${file} is not a regular file; move it out of the data directory`);
    if ((stat.mode & 0o077) !== 0) {
      try {
        chmodSync(file, 0o600);
        log.warn({ event: 'outbox-file-tightened', file, mode: (stat.mode & 0o777).toString(8) }, `${file} was readable by others (mode ${(stat.mode & 0o777).toString(8)}); made it owner-only (0600)`);
      } catch (error) {
        log.warn({ event: 'outbox-file-open-to-others', file, err: error }, `${file} is readable by others (mode ${(stat.mode & 0o777).toString(8)}) and could not be changed; chmod 600 ${file}`);
      }
    }
  }
  try {
    // Created here, not by SQLite, so that it is 0600 whatever the umask; O_EXCL never takes over a file made meanwhile.
    closeSync(openSync(path, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}
