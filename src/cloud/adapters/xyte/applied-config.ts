// The last Xyte config push the agent applied, kept across restarts so that a push the cloud
// repeats (it does after every connect) is not applied twice, and an older one never wins.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../config/write.ts';

export interface AppliedXyteConfig {
  deviceId: string;
  version: number;
  body: Record<string, unknown>;
}

const FILE = 'xyte-config.json';

/** The applied push for this device; a re-registered device (new id) starts again from version 0. */
export function readAppliedConfig(dataDir: string, deviceId: string): AppliedXyteConfig | undefined {
  const path = join(dataDir, FILE);
  if (!existsSync(path)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as AppliedXyteConfig;
    return stored.deviceId === deviceId && typeof stored.version === 'number' ? stored : undefined;
  } catch {
    return undefined;
  }
}

export function storeAppliedConfig(dataDir: string, applied: AppliedXyteConfig): void {
  writeFileAtomic(join(dataDir, FILE), `${JSON.stringify(applied)}\n`, 0o600);
}
