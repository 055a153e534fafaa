// Xyte device registration (dev.xyte.io, "Register device"): one HTTPS POST gives the device its id and access
// key, once. A repeated serial number is refused, so the credentials are precious: they are kept
// in the data dir (0600, atomic write, through the device store), and when the cloud refuses them
// they are set aside, not deleted, until a new registration has succeeded.
import { deviceStore, type DeviceStore } from '../../credentials/device-store.ts';
import { refusalOfStatus, RegistrationError } from '../../credentials/registration-error.ts';
import { parseJsonAnswer, type HttpsPost } from '../../https-post.ts';

export interface XyteCredentials {
  id: string;
  accessKey: string;
  mqttHubUrl: string;
  hubUrl?: string;
  /** The serial number registered: credentials for another serial (the config changed) are not used. */
  sn: string;
  registeredAt?: string;
}

export interface XyteRegistrationRequest {
  url: string;
  sn: string;
  firmwareVersion: string;
  hardwareKey: string;
  mac?: string;
  cloudId?: string;
  name?: string;
  ca?: Buffer;
  rejectUnauthorized?: boolean;
}

/** In the device store; a refused one is set aside as xyte-credentials.refused.json. */
export const CREDENTIALS_FILE = 'xyte-credentials.json';

export async function registerXyteDevice(request: XyteRegistrationRequest, https: HttpsPost): Promise<XyteCredentials> {
  const body = JSON.stringify({
    sn: request.sn,
    firmware_version: request.firmwareVersion,
    hardware_key: request.hardwareKey,
    ...(request.mac !== undefined ? { mac: request.mac } : {}),
    ...(request.cloudId !== undefined ? { cloud_id: request.cloudId } : {}),
    ...(request.name !== undefined ? { name: request.name } : {}),
  });
  let answer;
  try {
    answer = await https(request.url, body, { contentType: 'application/json', ...(request.ca ? { ca: request.ca } : {}), ...(request.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) });
  } catch (error) {
    throw new RegistrationError(`cannot reach ${new URL(request.url).host}: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
  }
  const parsed = parseJsonAnswer(answer) as Record<string, unknown> | undefined;
  if (answer.status >= 200 && answer.status < 300) {
    const { id, access_key: accessKey, mqtt_hub_url: mqttHubUrl, hub_url: hubUrl } = parsed ?? {};
    if (typeof id !== 'string' || typeof accessKey !== 'string' || typeof mqttHubUrl !== 'string') {
      throw new RegistrationError(`registration answered HTTP ${answer.status} without id, access_key and mqtt_hub_url`, 'server', answer.status);
    }
    return { id, accessKey, mqttHubUrl, ...(typeof hubUrl === 'string' ? { hubUrl } : {}), sn: request.sn, registeredAt: new Date().toISOString() };
  }
  const said = typeof parsed?.error === 'string' ? parsed.error : typeof parsed?.message === 'string' ? parsed.message : answer.text.slice(0, 200);
  throw new RegistrationError(`registration refused: HTTP ${answer.status}${said ? ` (${said})` : ''}`, refusalOfStatus(answer.status), answer.status);
}

/** Stored credentials for this serial number, or undefined (none, damaged, or for another serial: the config changed). */
export function readStoredCredentials(store: DeviceStore, sn: string | undefined): XyteCredentials | undefined {
  return credentialsFor(store.read(CREDENTIALS_FILE), sn);
}

/** Registration says the device still exists: the refused credentials were right after all. */
export function restoreSetAsideCredentials(store: DeviceStore, sn: string): XyteCredentials | undefined {
  const stored = credentialsFor(store.readSetAside(CREDENTIALS_FILE), sn);
  if (stored) store.restore(CREDENTIALS_FILE);
  return stored;
}

/** Keeps credentials in the data dir as a registration does (tests seed a registered device with it). */
export function storeCredentials(dataDir: string, credentials: XyteCredentials): void {
  deviceStore(dataDir).write(CREDENTIALS_FILE, credentials);
}

function credentialsFor(value: unknown, sn: string | undefined): XyteCredentials | undefined {
  const stored = (typeof value === 'object' && value !== null ? value : {}) as Partial<XyteCredentials>;
  if (typeof stored.id !== 'string' || typeof stored.accessKey !== 'string' || typeof stored.mqttHubUrl !== 'string' || typeof stored.sn !== 'string') return undefined;
  return sn === undefined || stored.sn === sn ? (stored as XyteCredentials) : undefined;
}
