// Where a cloud keeps what it learned about this device (credentials from a registration, the last
// config push applied): small JSON files in the data dir, written whole through writeFileAtomic
// (exclusive temp file, owner-only, fsync, rename). One store per adapter, handed in through its
// context. Read-only for `edge-agent doctor`: this is the one guard that keeps doctor from writing.
import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { readBoundedJson } from '../../config/read-json-file.ts';
import { writeFileAtomic } from '../../config/write.ts';

export interface DeviceStore {
  readonly dir: string;
  /** True for doctor: write, setAside and restore do nothing. */
  readonly readOnly: boolean;
  /** The parsed file, or undefined when it is absent, a link, too large or not JSON (treated as never written). */
  read(name: string): unknown;
  /** Replaces the file atomically, mode 0600, and drops a set-aside copy of it. */
  write(name: string, value: unknown): void;
  /** The cloud refused what the file holds: keep it as `<name>.refused.json` in case the refusal was not final. */
  setAside(name: string): void;
  /** The set-aside copy, parsed, or undefined. */
  readSetAside(name: string): unknown;
  /** Puts the set-aside copy back in place. */
  restore(name: string): void;
}

export function setAsideName(name: string): string {
  return name.replace(/(\.json)?$/, '.refused.json');
}

export function deviceStore(dir: string, options: { readOnly?: boolean } = {}): DeviceStore {
  const readOnly = options.readOnly === true;
  const path = (name: string) => join(dir, name);
  return {
    dir,
    readOnly,
    read: (name) => readBoundedJson(path(name)),
    write(name, value) {
      if (readOnly) return;
      writeFileAtomic(path(name), `${JSON.stringify(value, null, 2)}\n`, 0o600);
      rmSync(path(setAsideName(name)), { force: true });
    },
    setAside(name) {
      if (readOnly) return;
      renameIfPresent(path(name), path(setAsideName(name)));
    },
    readSetAside: (name) => readBoundedJson(path(setAsideName(name))),
    restore(name) {
      if (readOnly) return;
      renameIfPresent(path(setAsideName(name)), path(name));
    },
  };
}

function renameIfPresent(from: string, to: string): void {
  try {
    renameSync(from, to);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

