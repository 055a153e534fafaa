// IoT Hub shared access signatures, as the Azure IoT device SDK for Node makes them
// (azure-iot-sdk-node common/core/src/shared_access_signature.ts):
//   sr  = URL-encoded "{host}/devices/{deviceId}"
//   sig = base64(HMAC-SHA256(base64-decoded key, sr + "\n" + se)), URL-encoded
// encodeURIComponent plus !'()* gives the SDK's upper-case escapes; the hub signs sr as sent.
import { createHmac } from 'node:crypto';

export function encodeUriComponentStrict(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function deviceResourceUri(host: string, deviceId: string): string {
  return encodeUriComponentStrict(`${host}/devices/${deviceId}`);
}

export function signSas(resourceUri: string, base64Key: string, expirySeconds: number): string {
  return encodeUriComponentStrict(createHmac('sha256', Buffer.from(base64Key, 'base64')).update(`${resourceUri}\n${expirySeconds}`).digest('base64'));
}

/** `SharedAccessSignature sr=…&sig=…&se=…` for a device key. */
export function deviceSasToken(host: string, deviceId: string, base64Key: string, expirySeconds: number): string {
  const sr = deviceResourceUri(host, deviceId);
  return `SharedAccessSignature sr=${sr}&sig=${signSas(sr, base64Key, expirySeconds)}&se=${expirySeconds}`;
}

export interface ParsedSas {
  sr: string;
  sig: string;
  se: number;
  skn?: string;
}

/** The token's fields exactly as sent (still URL-encoded: the hub verifies the signature over sr as sent). */
export function parseSasToken(token: string): ParsedSas | undefined {
  const prefix = 'SharedAccessSignature ';
  if (!token.startsWith(prefix)) return undefined;
  const fields = new Map(token.slice(prefix.length).split('&').map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as const));
  const sr = fields.get('sr');
  const sig = fields.get('sig');
  const se = Number(fields.get('se'));
  if (!sr || !sig || !Number.isInteger(se)) return undefined;
  const skn = fields.get('skn');
  return { sr, sig, se, ...(skn ? { skn } : {}) };
}

/** `HostName=…;DeviceId=…;SharedAccessKey=…` (keys case-insensitive, order free). */
export function parseConnectionString(text: string): { hostName?: string; deviceId?: string; sharedAccessKey?: string } {
  const out: Record<string, string> = {};
  for (const part of text.split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out[part.slice(0, at).trim().toLowerCase()] = part.slice(at + 1).trim();
  }
  return { ...(out.hostname ? { hostName: out.hostname } : {}), ...(out.deviceid ? { deviceId: out.deviceid } : {}), ...(out.sharedaccesskey ? { sharedAccessKey: out.sharedaccesskey } : {}) };
}

/**
 * The device key of an enrollment-group member: base64(HMAC-SHA256(base64-decoded group key,
 * registration id)) (learn.microsoft.com, "Symmetric key attestation with DPS", group enrollments).
 */
export function deriveDeviceKey(base64GroupKey: string, registrationId: string): string {
  return createHmac('sha256', Buffer.from(base64GroupKey, 'base64')).update(registrationId, 'utf8').digest('base64');
}

/**
 * `SharedAccessSignature sr=…&sig=…&se=…&skn=registration` for a DPS registration: the resource is
 * "{idScope}/registrations/{registrationId}", URL-encoded as the DPS SAS documentation shows
 * (learn.microsoft.com, "Control access to DPS with SAS tokens"; the Node SDK's
 * security/symmetric/src/symmetric_key.ts signs it unencoded, and DPS takes both: it verifies sr as sent).
 */
export function registrationSasToken(idScope: string, registrationId: string, base64Key: string, expirySeconds: number): string {
  const sr = encodeUriComponentStrict(`${idScope}/registrations/${registrationId}`);
  return `SharedAccessSignature sr=${sr}&sig=${signSas(sr, base64Key, expirySeconds)}&se=${expirySeconds}&skn=registration`;
}
