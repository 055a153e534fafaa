// "One secret per product" (Alibaba doc 132111): a device that knows only its product secret asks the
// platform for its device secret once, over HTTPS; credentials.ts keeps it in the device store (mode 0600).
import { createHmac, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DeviceStore } from '../../credentials/device-store.ts';
import { RegistrationError } from '../../credentials/registration-error.ts';
import type { HttpsPost } from '../../https-post.ts';

/** In the device store. */
export const SECRET_FILE = 'alibaba-device-secret.json';

export function registrationSign(productSecret: string, productKey: string, deviceName: string, random: string): string {
  return createHmac('sha256', productSecret).update(`deviceName${deviceName}productKey${productKey}random${random}`).digest('hex');
}

/** Where the device secret is kept (tests seed a registered device there). */
export function storedSecretPath(dataDir: string): string {
  return join(dataDir, SECRET_FILE);
}

export function readStoredSecret(store: DeviceStore, productKey: string, deviceName: string): string | undefined {
  const stored = store.read(SECRET_FILE) as { productKey?: unknown; deviceName?: unknown; deviceSecret?: unknown } | undefined;
  // A secret for another device (the config changed) must not be used.
  return stored?.productKey === productKey && stored.deviceName === deviceName && typeof stored.deviceSecret === 'string' ? stored.deviceSecret : undefined;
}

/** Asks the platform for the device secret; the caller keeps it. Throws RegistrationError. */
export async function registerDevice(options: { url: string; productKey: string; deviceName: string; productSecret: string; ca?: Buffer }, https: HttpsPost): Promise<string> {
  const random = randomBytes(8).toString('hex');
  const body = new URLSearchParams({ productKey: options.productKey, deviceName: options.deviceName, random, signMethod: 'hmacsha256', sign: registrationSign(options.productSecret, options.productKey, options.deviceName, random) }).toString();
  let response;
  try {
    response = await https(options.url, body, { contentType: 'application/x-www-form-urlencoded', ...(options.ca ? { ca: options.ca } : {}) });
  } catch (error) {
    throw new RegistrationError(`cannot reach ${new URL(options.url).host}: ${(error as Error).message}`, 'unreachable', undefined, { cause: error });
  }
  let parsed: { code?: number; message?: string; data?: { deviceSecret?: string } };
  try {
    parsed = JSON.parse(response.text) as typeof parsed;
  } catch {
    throw new RegistrationError(`dynamic registration: HTTP ${response.status}, not JSON`, 'server', response.status);
  }
  const secret = parsed.data?.deviceSecret;
  if (response.status !== 200 || parsed.code !== 200 || !secret) {
    // The platform answers HTTP 200 with its own code for a refusal (a wrong sign, an unknown device).
    const refusal = response.status >= 500 ? 'server' : response.status === 401 || response.status === 403 ? 'unauthorized' : 'invalid';
    throw new RegistrationError(`dynamic registration refused: HTTP ${response.status}, code ${parsed.code ?? '?'} ${parsed.message ?? ''}`.trim(), refusal, response.status);
  }
  return secret;
}
