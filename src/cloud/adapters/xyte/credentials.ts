// Xyte's credentials part (credentials/credentials-part.ts): id + access key from the config, else
// from the device store, else by registering over HTTPS (dev.xyte.io, "Register device"). A refused
// stored set is set aside and the device registers again; when registration answers that the serial
// number is still registered, the refusal was not a deletion and the set-aside credentials come back.
import { networkInterfaces } from 'node:os';
import type { CredentialsPart } from '../../credentials/credentials-part.ts';
import type { RegistrationError } from '../../credentials/registration-error.ts';
import { readTls } from '../../tls-files.ts';
import type { XyteConfig } from '../xyte.ts';
import { CREDENTIALS_FILE, readStoredCredentials, registerXyteDevice, restoreSetAsideCredentials, type XyteCredentials } from './registration.ts';

export const xyteCredentials: CredentialsPart<XyteConfig, XyteCredentials> = {
  cloud: 'Xyte',
  kept: 'credentials',
  resolve(config, ctx) {
    if (config.id !== undefined && config.accessKey !== undefined) {
      return Promise.resolve({ credentials: { id: config.id, accessKey: config.accessKey.reveal(), mqttHubUrl: config.mqttHubUrl ?? config.url ?? '', sn: config.registration?.sn ?? '' }, source: 'config' });
    }
    const stored = readStoredCredentials(ctx.store, config.registration!.sn);
    return Promise.resolve(stored ? { credentials: stored, source: 'stored' } : undefined);
  },
  async register(config, ctx) {
    const registration = config.registration!;
    const mac = registration.mac === 'auto' ? primaryMac() : registration.mac;
    let credentials: XyteCredentials;
    try {
      credentials = await registerXyteDevice(
        {
          url: registration.url,
          sn: registration.sn,
          firmwareVersion: registration.firmwareVersion,
          hardwareKey: registration.hardwareKey.reveal(),
          ...(mac !== undefined ? { mac } : {}),
          ...(registration.cloudId !== undefined ? { cloudId: registration.cloudId } : {}),
          ...(registration.name !== undefined ? { name: registration.name } : {}),
          ...(config.tls ? { ca: readTls(config.tls).ca, rejectUnauthorized: config.tls.rejectUnauthorized } : {}),
        },
        ctx.https,
      );
    } catch (error) {
      if ((error as RegistrationError).refusal === 'duplicate') {
        // The device still exists in Xyte: credentials refused earlier were not a deletion after all.
        const restored = restoreSetAsideCredentials(ctx.store, registration.sn);
        if (restored) {
          ctx.log.warn({ event: 'xyte-still-registered', deviceId: restored.id }, `Xyte says sn ${registration.sn} is still registered: keeping the credentials of device ${restored.id} and retrying them`);
          return restored;
        }
      }
      throw error;
    }
    ctx.store.write(CREDENTIALS_FILE, credentials);
    ctx.log.info({ event: 'xyte-registered', deviceId: credentials.id, sn: credentials.sn }, `registered with Xyte as device ${credentials.id} (sn ${credentials.sn}); credentials kept in the data dir`);
    return credentials;
  },
  refused(_config, ctx, { credentials, source }) {
    if (source === 'config') {
      ctx.log.error({ event: 'xyte-credentials-refused', deviceId: credentials.id }, `Xyte refused the access key of device ${credentials.id}: check cloud.id and cloud.accessKey (the device may have been deleted in the Xyte portal). Retrying with backoff.`);
      return Promise.resolve();
    }
    ctx.log.warn({ event: 'xyte-device-deleted', deviceId: credentials.id }, `Xyte refused the stored credentials of device ${credentials.id}: the device was probably deleted in the portal; registering again`);
    ctx.store.setAside(CREDENTIALS_FILE);
    return Promise.resolve();
  },
  backoff: (config) => ({ minMs: config.registration?.retryMin ?? 0, maxMs: config.registration?.retryMax ?? 0, jitter: 0.2 }),
  failure(config, error) {
    const advice = registrationAdvice(error);
    return `Xyte registration of sn ${config.registration?.sn ?? '?'} failed: ${error.message}${advice ? `; ${advice}` : ''}`;
  },
  describe: (_config, credentials) => ({ deviceId: credentials.id, endpoint: credentials.mqttHubUrl }),
};

function registrationAdvice(error: RegistrationError): string {
  switch (error.refusal) {
    case 'duplicate':
      return 'this serial number is already registered: if the gateway lost its stored credentials, delete the device in the Xyte portal, or give its id, accessKey and mqttHubUrl in the config';
    case 'unauthorized':
      return 'check cloud.registration.hardwareKey';
    case 'invalid':
      return 'check cloud.registration (sn, firmwareVersion, mac or cloudId)';
    default:
      return '';
  }
}

/** The MAC of the first physical-looking interface, in name order (eth0 before wlan0). */
function primaryMac(): string | undefined {
  const interfaces = networkInterfaces();
  for (const name of Object.keys(interfaces).sort()) {
    if (/^(lo|docker|veth|br-|virbr|tun|tap|wg)/.test(name)) continue;
    const mac = interfaces[name]?.find((i) => !i.internal && i.mac !== '00:00:00:00:00:00')?.mac;
    if (mac) return mac;
  }
  return undefined;
}
