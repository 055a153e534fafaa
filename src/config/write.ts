// Writing the config back (config.set, cloud config pushes) and the credential files the cloud
// adapters store: atomically, with the previous config kept, so a power cut mid-write never leaves a
// technician with a half-written file. Every file the agent writes whole goes through writeFileAtomic.
import { closeSync, constants, fchmodSync, fsyncSync, lstatSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { isDeepStrictEqual } from 'node:util';

/** O_EXCL: never open what someone else put at the temp path; O_NOFOLLOW: never write through a link. */
const CREATE_EXCLUSIVELY = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Writes `path` through a temp file created exclusively beside it, then renames it into place. The
 * mode is set exactly (umask cannot widen or narrow it): credentials pass 0o600.
 */
export function writeFileAtomic(path: string, content: string | Uint8Array, mode = 0o640): void {
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openTemp(temp, mode);
  try {
    fchmodSync(fd, mode);
    writeSync(fd, typeof content === 'string' ? Buffer.from(content) : content);
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw error;
  }
  closeSync(fd);
  // rename() replaces the name itself: a link planted at `path` is replaced, its target untouched.
  renameSync(temp, path);
  // The rename is durable only once the directory entry is on disk.
  fsyncDirectory(dirname(path));
}

/** Makes the entries of `dir` durable (a rename, a new or removed file): fsync on the directory itself. */
export function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function openTemp(temp: string, mode: number): number {
  try {
    return openSync(temp, CREATE_EXCLUSIVELY, mode);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  // A regular file here is what a crash mid-write leaves (pids repeat after a reboot): remove it and
  // try once more. Anything else (a link, a fifo) was put there by someone else: refuse, loudly.
  const existing = lstatSync(temp);
  if (!existing.isFile()) {
    throw Object.assign(new Error(`refusing to write ${temp}: it exists and is ${existing.isSymbolicLink() ? 'a symbolic link' : 'not a regular file'}; the agent never writes through links. Remove it (rm ${temp}) and try again`), { code: 'EEXIST' });
  }
  rmSync(temp);
  return openSync(temp, CREATE_EXCLUSIVELY, mode);
}

/** Writes the new config, keeping the previous one as `<file>.bak`. Returns the backup path. */
export function replaceConfigFile(path: string, text: string): string | undefined {
  const backup = `${path}.bak`;
  // Keep the file's own mode: a config holding secrets may have been made 0600 on purpose.
  let mode = 0o640;
  let previous: Buffer | undefined;
  try {
    mode = statSync(path).mode & 0o777;
    previous = readFileSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Not copyFileSync: it would write through a link planted at the backup path.
  if (previous !== undefined) writeFileAtomic(backup, previous, mode);
  writeFileAtomic(path, text, mode);
  return previous !== undefined ? backup : undefined;
}

/** Deep merge for partial configs: objects merge key by key, arrays and scalars replace, null deletes. */
export function mergeConfig(base: unknown, patch: unknown): unknown {
  if (!isJsonObject(patch)) return patch;
  // A Map, then fromEntries: a "__proto__" key from the cloud stays a plain (and refused) key
  // instead of reaching the merged object's prototype through assignment.
  const merged = new Map<string, unknown>(isJsonObject(base) ? Object.entries(base) : []);
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) merged.delete(key);
    else merged.set(key, mergeConfig(merged.get(key), value));
  }
  return Object.fromEntries(merged);
}

/**
 * Whether two configs hold the same JSON, however their objects were built: the file's parser
 * (jsonc-parser) makes objects without a prototype, a merge makes plain ones, and
 * isDeepStrictEqual alone tells those apart, so every no-op push looked like a change.
 */
export function sameConfig(a: unknown, b: unknown): boolean {
  return isDeepStrictEqual(asPlainJson(a), asPlainJson(b));
}

function asPlainJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
