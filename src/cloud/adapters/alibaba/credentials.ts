// Alibaba's credentials part (credentials/credentials-part.ts): the device secret from the config,
// else from the device store, else by dynamic registration with the product secret (doc 132111).
import type { CredentialsPart } from '../../credentials/credentials-part.ts';
import { ClockNotSynchronizedError } from '../../errors.ts';
import { readTls } from '../../tls-files.ts';
import type { AlibabaConfig } from '../alibaba.ts';
import { brokerUrl } from './broker-url.ts';
import { readStoredSecret, registerDevice, SECRET_FILE } from './dynamic-registration.ts';

export const alibabaCredentials: CredentialsPart<AlibabaConfig, string> = {
  cloud: 'Alibaba',
  kept: 'device secret',
  resolve(config, ctx) {
    if (config.deviceSecret) return Promise.resolve({ credentials: config.deviceSecret.reveal(), source: 'config' });
    const stored = readStoredSecret(ctx.store, config.productKey, config.deviceName);
    return Promise.resolve(stored !== undefined ? { credentials: stored, source: 'stored' } : undefined);
  },
  async register(config, ctx) {
    // Signed CONNECTs are refused on a wrong clock anyway: wait for it before registering, as before.
    if (!ctx.clockSynchronized()) throw new ClockNotSynchronizedError(ctx.now());
    const { productKey, deviceName } = config;
    const secret = await registerDevice(
      {
        url: config.registrationUrl ?? `https://iot-auth.${config.regionId ?? 'cn-shanghai'}.aliyuncs.com/auth/register/device`,
        productKey,
        deviceName,
        productSecret: config.productSecret!.reveal(),
        ...(config.tls?.ca ? { ca: readTls(config.tls).ca! } : {}),
      },
      ctx.https,
    );
    ctx.store.write(SECRET_FILE, { productKey, deviceName, deviceSecret: secret });
    ctx.log.info({ event: 'alibaba-registered', deviceName }, `registered ${productKey}/${deviceName} with the platform; the device secret is kept in the data dir`);
    return secret;
  },
  // The platform hands a device secret out once: a refused one is kept (there is no registering again).
  refused: () => Promise.resolve(),
  backoff: () => ({ minMs: 30_000, maxMs: 30 * 60_000, jitter: 0 }),
  failure: (_config, error) => `Alibaba dynamic registration failed (${error.message})`,
  describe: (config) => ({ deviceId: `${config.productKey}/${config.deviceName}`, endpoint: brokerUrl(config) }),
};
