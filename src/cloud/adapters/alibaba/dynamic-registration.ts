// "One secret per product" (Alibaba doc 132111): a device that knows only its product secret asks the
// platform for its device secret once, over HTTPS, and keeps it in the data dir (mode 0600).
import { createHmac, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../../config/write.ts';
import { httpsPost } from '../../https-post.ts';

export function registrationSign(productSecret: string, productKey: string, deviceName: string, random: string): string {
  return createHmac('sha256', productSecret).update(`deviceName${deviceName}productKey${productKey}random${random}`).digest('hex');
}

export function storedSecretPath(dataDir: string): string {
  return join(dataDir, 'alibaba-device-secret.json');
}

export function readStoredSecret(dataDir: string, productKey: string, deviceName: string): string | undefined {
  const path = storedSecretPath(dataDir);
  if (!existsSync(path)) return undefined;
  const stored = JSON.parse(readFileSync(path, 'utf8')) as { productKey?: string; deviceName?: string; deviceSecret?: string };
  // A secret for another device (the config changed) must not be used.
  return stored.productKey === productKey && stored.deviceName === deviceName ? stored.deviceSecret : undefined;
}

export async function registerDevice(options: { url: string; productKey: string; deviceName: string; productSecret: string; ca?: Buffer; dataDir: string }): Promise<string> {
  const random = randomBytes(8).toString('hex');
  const body = new URLSearchParams({ productKey: options.productKey, deviceName: options.deviceName, random, signMethod: 'hmacsha256', sign: registrationSign(options.productSecret, options.productKey, options.deviceName, random) }).toString();
  const response = await httpsPost(options.url, body, { contentType: 'application/x-www-form-urlencoded', ...(options.ca ? { ca: options.ca } : {}) });
  let parsed: { code?: number; message?: string; data?: { deviceSecret?: string } };
  try {
    parsed = JSON.parse(response.text) as typeof parsed;
  } catch {
    throw new Error(`dynamic registration: HTTP ${response.status}, not JSON`);
  }
  const secret = parsed.data?.deviceSecret;
  if (response.status !== 200 || parsed.code !== 200 || !secret) throw new Error(`dynamic registration refused: HTTP ${response.status}, code ${parsed.code ?? '?'} ${parsed.message ?? ''}`.trim());
  writeFileAtomic(storedSecretPath(options.dataDir), JSON.stringify({ productKey: options.productKey, deviceName: options.deviceName, deviceSecret: secret }), 0o600);
  return secret;
}
