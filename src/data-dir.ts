// The agent's state directory (outbox, stored cloud credentials): created on first use, and a clear
// answer when the service user cannot write it.
import { accessSync, constants, mkdirSync } from 'node:fs';
import { DataDirError } from './errors.ts';

export function ensureDataDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    accessSync(dir, constants.W_OK | constants.R_OK);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DataDirError(
      `cannot use the data directory ${dir} (${code ?? String(error)}): it must exist and be writable by the agent's user; for example: sudo mkdir -p ${dir} && sudo chown edge-agent: ${dir}`,
      { cause: error },
    );
  }
}
