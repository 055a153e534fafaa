// What DPS assigned this gateway, kept in the device store (credentials/device-store.ts: the data dir,
// written whole and atomically, mode 0600) so a restart connects to the assigned hub without asking
// DPS again. It holds no secret: the key is the config's (or derived from it); the fingerprint says
// which key or certificate the assignment was made for, and a different one means registering again.
import type { DeviceStore } from '../../credentials/device-store.ts';
import { DEVICE_ID, HUB_HOST } from './identity.ts';

/** In the device store. */
export const ASSIGNMENT_FILE = 'azure-dps-assignment.json';

export interface StoredAssignment {
  idScope: string;
  registrationId: string;
  /** attestationFingerprint() of the key or certificate DPS accepted. */
  attestation: string;
  assignedHub: string;
  deviceId: string;
  substatus?: string;
  /** Epoch ms. */
  assignedAt: number;
}

/** The assignment stored for this scope, registration id and attestation; undefined when none, or for another identity. */
export function readAssignment(store: DeviceStore, expected: { idScope: string; registrationId: string; attestation: string }, setAside = false): StoredAssignment | undefined {
  const value = (setAside ? store.readSetAside(ASSIGNMENT_FILE) : store.read(ASSIGNMENT_FILE)) as Partial<StoredAssignment> | undefined;
  if (!value || typeof value !== 'object') return undefined;
  const { idScope, registrationId, attestation, assignedHub, deviceId, assignedAt } = value;
  if (typeof assignedHub !== 'string' || !HUB_HOST.test(assignedHub) || typeof deviceId !== 'string' || !DEVICE_ID.test(deviceId) || typeof assignedAt !== 'number') return undefined;
  // DPS compares ID scopes and registration ids without regard to case.
  if (idScope?.toLowerCase() !== expected.idScope.toLowerCase() || registrationId?.toLowerCase() !== expected.registrationId.toLowerCase() || attestation !== expected.attestation) return undefined;
  return { idScope, registrationId, attestation, assignedHub, deviceId, assignedAt, ...(typeof value.substatus === 'string' ? { substatus: value.substatus } : {}) };
}
