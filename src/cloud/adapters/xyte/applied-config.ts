// The last Xyte config push the agent applied, kept across restarts (in the device store) so that a
// push the cloud repeats (it does after every connect) is not applied twice, and an older one never wins.
import type { DeviceStore } from '../../credentials/device-store.ts';

export interface AppliedXyteConfig {
  deviceId: string;
  version: number;
  body: Record<string, unknown>;
}

const FILE = 'xyte-config.json';

/** The applied push for this device; a re-registered device (new id) starts again from version 0. */
export function readAppliedConfig(store: DeviceStore, deviceId: string): AppliedXyteConfig | undefined {
  const stored = store.read(FILE) as Partial<AppliedXyteConfig> | undefined;
  return stored?.deviceId === deviceId && typeof stored.version === 'number' && typeof stored.body === 'object' && stored.body !== null ? (stored as AppliedXyteConfig) : undefined;
}

export function storeAppliedConfig(store: DeviceStore, applied: AppliedXyteConfig): void {
  store.write(FILE, applied);
}
