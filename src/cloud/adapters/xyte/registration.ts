// Xyte device registration (dev.xyte.io, "Register device"): one HTTPS POST gives the device its id and access
// key, once. A repeated serial number is refused, so the credentials are precious: they are kept
// in the data dir (0600, atomic write), and when the cloud refuses them they are set aside, not
// deleted, until a new registration has succeeded.
import { existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../config/write.ts';
import { AgentError } from '../../../errors.ts';
import { httpsPost, parseJsonAnswer } from '../../https-post.ts';

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

export type RegistrationRefusal = 'duplicate' | 'unauthorized' | 'invalid' | 'server' | 'unreachable';

export class XyteRegistrationError extends AgentError {
  readonly refusal: RegistrationRefusal;
  readonly httpStatus: number | undefined;
  constructor(message: string, refusal: RegistrationRefusal, httpStatus?: number, options?: ErrorOptions) {
    super(message, 1, options);
    this.refusal = refusal;
    this.httpStatus = httpStatus;
  }
}

const CREDENTIALS_FILE = 'xyte-credentials.json';
const SET_ASIDE_FILE = 'xyte-credentials.refused.json';

export async function registerXyteDevice(request: XyteRegistrationRequest): Promise<XyteCredentials> {
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
    answer = await httpsPost(request.url, body, { contentType: 'application/json', ...(request.ca ? { ca: request.ca } : {}), ...(request.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}) });
  } catch (error) {
    throw new XyteRegistrationError(`cannot reach ${new URL(request.url).host}: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
  }
  const parsed = parseJsonAnswer(answer) as Record<string, unknown> | undefined;
  if (answer.status >= 200 && answer.status < 300) {
    const { id, access_key: accessKey, mqtt_hub_url: mqttHubUrl, hub_url: hubUrl } = parsed ?? {};
    if (typeof id !== 'string' || typeof accessKey !== 'string' || typeof mqttHubUrl !== 'string') {
      throw new XyteRegistrationError(`registration answered HTTP ${answer.status} without id, access_key and mqtt_hub_url`, 'server', answer.status);
    }
    return { id, accessKey, mqttHubUrl, ...(typeof hubUrl === 'string' ? { hubUrl } : {}), sn: request.sn, registeredAt: new Date().toISOString() };
  }
  const said = typeof parsed?.error === 'string' ? parsed.error : typeof parsed?.message === 'string' ? parsed.message : answer.text.slice(0, 200);
  const refusal: RegistrationRefusal = answer.status === 409 ? 'duplicate' : answer.status === 401 || answer.status === 403 ? 'unauthorized' : answer.status >= 400 && answer.status < 500 ? 'invalid' : 'server';
  throw new XyteRegistrationError(`registration refused: HTTP ${answer.status}${said ? ` (${said})` : ''}`, refusal, answer.status);
}

/** The credentials file in the data dir, or undefined when there is none for this serial number. */
export function readStoredCredentials(dataDir: string, sn: string | undefined): XyteCredentials | undefined {
  const stored = readCredentialsFile(join(dataDir, CREDENTIALS_FILE));
  return stored && (sn === undefined || stored.sn === sn) ? stored : undefined;
}

export function storeCredentials(dataDir: string, credentials: XyteCredentials): void {
  writeFileAtomic(join(dataDir, CREDENTIALS_FILE), `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
  rmSync(join(dataDir, SET_ASIDE_FILE), { force: true });
}

/** The cloud refused these credentials: keep them aside in case the refusal was not a deletion. */
export function setCredentialsAside(dataDir: string): void {
  const path = join(dataDir, CREDENTIALS_FILE);
  if (existsSync(path)) renameSync(path, join(dataDir, SET_ASIDE_FILE));
}

/** Registration says the device still exists: the refused credentials were right after all. */
export function restoreSetAsideCredentials(dataDir: string, sn: string): XyteCredentials | undefined {
  const aside = join(dataDir, SET_ASIDE_FILE);
  const stored = readCredentialsFile(aside);
  if (!stored || stored.sn !== sn) return undefined;
  renameSync(aside, join(dataDir, CREDENTIALS_FILE));
  return stored;
}

function readCredentialsFile(path: string): XyteCredentials | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const stored = JSON.parse(readFileSync(path, 'utf8')) as Partial<XyteCredentials>;
    if (typeof stored.id === 'string' && typeof stored.accessKey === 'string' && typeof stored.mqttHubUrl === 'string' && typeof stored.sn === 'string') return stored as XyteCredentials;
  } catch {
    // A damaged file is treated as absent; the agent registers again (and a duplicate refusal says so).
  }
  return undefined;
}
