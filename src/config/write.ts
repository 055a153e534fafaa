// Writing the config back (config.set, cloud config pushes): atomically, with the previous file kept,
// so a power cut mid-write never leaves a technician with a half-written config.
import { closeSync, copyFileSync, existsSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileAtomic(path: string, text: string, mode = 0o640): void {
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, path);
  // The rename is durable only once the directory entry is on disk.
  const dir = openSync(dirname(path), 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/** Writes the new config, keeping the previous one as `<file>.bak`. Returns the backup path. */
export function replaceConfigFile(path: string, text: string): string | undefined {
  const backup = `${path}.bak`;
  if (existsSync(path)) copyFileSync(path, backup);
  writeFileAtomic(path, text);
  return existsSync(backup) ? backup : undefined;
}

/** Deep merge for partial configs: objects merge key by key, arrays and scalars replace, null deletes. */
export function mergeConfig(base: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> = typeof base === 'object' && base !== null && !Array.isArray(base) ? { ...(base as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete out[key];
    else out[key] = mergeConfig(out[key], value);
  }
  return out;
}
