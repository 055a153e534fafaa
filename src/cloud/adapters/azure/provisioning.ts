// `cloud.provisioning` of the Azure provider: how a gateway registers itself with the IoT Hub Device
// Provisioning Service (DPS), and which attestation it proves itself with: an enrollment group's key
// (the device key is derived from it), an individual enrollment's key, or the X.509 certificate in
// cloud.tls. Sources: learn.microsoft.com "Symmetric key attestation with DPS", "X.509 certificate
// attestation", "Use custom allocation policies" (the payload).
import { X509Certificate, createHash } from 'node:crypto';
import { z } from 'zod';
import { duration, secret, type Secret } from '../../../config/primitives.ts';
import { deriveDeviceKey } from './sas-token.ts';

export const DEFAULT_DPS_ENDPOINT = 'global.azure-devices-provisioning.net';
/** DPS: "a case-insensitive string (up to 128 characters long) of alphanumeric characters plus : . _ -; no special characters at the start or end". */
export const REGISTRATION_ID = /^(?=.{1,128}$)[A-Za-z0-9](?:[A-Za-z0-9:._-]*[A-Za-z0-9])?$/;
const REGISTRATION_ID_RULE = 'letters, digits, ":", ".", "_" or "-", at most 128, starting and ending with a letter or digit';
/** Custom allocation data goes to the allocation function with every registration: small by nature. */
const MAX_PAYLOAD_BYTES = 16 * 1024;

export const provisioningSchema = z
  .strictObject({
    idScope: z
      .string()
      .regex(/^[A-Za-z0-9]{1,64}$/, 'expected the ID scope of the DPS instance, such as "0ne00ABC123" (Azure portal: DPS > Overview > ID Scope)')
      .meta({ description: 'The ID scope of the Device Provisioning Service instance (Azure portal: DPS > Overview > ID Scope).' }),
    registrationId: z
      .string()
      .regex(REGISTRATION_ID, `expected a DPS registration id: ${REGISTRATION_ID_RULE}`)
      .optional()
      .meta({ description: 'The registration id this gateway presents (default: agent.id). With X.509 it must be the certificate\'s common name.' }),
    groupKey: secret()
      .optional()
      .meta({ description: "The enrollment group's primary (or secondary) symmetric key: every gateway derives its own device key from it and its registration id. One image for a whole fleet." }),
    deviceKey: secret().optional().meta({ description: "An individual enrollment's primary (or secondary) symmetric key." }),
    endpoint: z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, 'expected a host name such as "global.azure-devices-provisioning.net" (optionally with ":port")')
      .default(DEFAULT_DPS_ENDPOINT)
      .meta({ description: 'The DPS global device endpoint (default global.azure-devices-provisioning.net).' }),
    // Any JSON: the config is JSON already, and DPS hands it to the allocation function as it is.
    payload: z
      .unknown()
      .optional()
      .meta({ description: 'Custom allocation data sent with every registration (an Azure Function with a custom allocation policy reads it).' }),
    retryMin: duration({ min: '1s', max: '1h' }).prefault('10s').meta({ description: 'First wait after a failed registration; it doubles up to retryMax (never sooner than DPS asks when it throttles).' }),
    retryMax: duration({ min: '1s', max: '24h' }).prefault('10m').meta({ description: 'Longest wait between registration attempts.' }),
  })
  .superRefine((p, ctx) => {
    if (p.groupKey && p.deviceKey) ctx.addIssue({ code: 'custom', path: ['deviceKey'], message: 'expected "groupKey" (an enrollment group) or "deviceKey" (an individual enrollment), not both' });
    for (const field of ['groupKey', 'deviceKey'] as const) {
      const inline = p[field]?.inline;
      if (inline !== undefined && keyProblem(inline)) ctx.addIssue({ code: 'custom', path: [field], message: keyProblem(inline)! });
    }
    if (p.payload !== undefined && JSON.stringify(p.payload).length > MAX_PAYLOAD_BYTES) ctx.addIssue({ code: 'custom', path: ['payload'], message: `expected custom allocation data of at most ${MAX_PAYLOAD_BYTES / 1024} KB of JSON` });
    if (p.retryMin > p.retryMax) ctx.addIssue({ code: 'custom', path: ['retryMin'], message: 'expected retryMin no longer than retryMax' });
  })
  .meta({ description: 'Register through the IoT Hub Device Provisioning Service (DPS) instead of a connection string: the assigned hub and device id are kept in the data dir.' });

export type ProvisioningConfig = z.output<typeof provisioningSchema>;

/** A symmetric key as the Azure portal shows it: base64 of 16 to 64 bytes. Undefined when it is one. */
export function keyProblem(key: string): string | undefined {
  const bytes = /^[A-Za-z0-9+/]+={0,2}$/.test(key) && key.length % 4 === 0 ? Buffer.from(key, 'base64').length : 0;
  return bytes >= 16 && bytes <= 64 ? undefined : `expected a base64 symmetric key as the Azure portal shows it (such as 44 characters ending in "="), found ${key.length} characters that are not one`;
}

/** How this gateway proves itself to DPS, and then to its assigned hub. */
export type Attestation =
  | { kind: 'symmetricKey'; enrollment: 'group' | 'individual'; deviceKey: string; configPath: string }
  | { kind: 'x509'; cert: Buffer; key: Buffer };

/**
 * The attestation a validated config gives: a group key (the device key derived from it), a device
 * key, or the client certificate of cloud.tls. Throws a located message when none fits.
 */
export function attestationOf(provisioning: ProvisioningConfig, registrationId: string, tls: { cert?: Buffer; key?: Buffer } | undefined): Attestation {
  const symmetric = (field: 'groupKey' | 'deviceKey', value: Secret): Attestation => {
    const key = value.reveal();
    const problem = keyProblem(key);
    if (problem) throw new Error(`cloud.provisioning.${field} (${value.source}): ${problem}`);
    return field === 'groupKey'
      ? { kind: 'symmetricKey', enrollment: 'group', deviceKey: deriveDeviceKey(key, registrationId), configPath: 'cloud.provisioning.groupKey' }
      : { kind: 'symmetricKey', enrollment: 'individual', deviceKey: key, configPath: 'cloud.provisioning.deviceKey' };
  };
  if (provisioning.groupKey) return symmetric('groupKey', provisioning.groupKey);
  if (provisioning.deviceKey) return symmetric('deviceKey', provisioning.deviceKey);
  if (tls?.cert && tls.key) return { kind: 'x509', cert: tls.cert, key: tls.key };
  throw new Error('cloud.provisioning: expected "groupKey", "deviceKey", or a client certificate in cloud.tls.cert and cloud.tls.key');
}

/**
 * What a stored assignment was made for: a hash of the device key or of the certificate. A changed
 * key or certificate in the config means the stored assignment is for another identity. The hash
 * is kept, not the key: the config holds the key already, and a second copy on disk is one more to leak.
 */
export function attestationFingerprint(attestation: Attestation): string {
  return attestation.kind === 'x509'
    ? `x509:sha256:${new X509Certificate(attestation.cert).fingerprint256.replaceAll(':', '').toLowerCase()}`
    : `key:sha256:${createHash('sha256').update(attestation.deviceKey).digest('hex')}`;
}

/** The common name of a client certificate: DPS takes it as the registration id of an X.509 device. */
export function certificateCommonName(cert: Buffer): string | undefined {
  const subject = new X509Certificate(cert).subject;
  return /^CN=(.*)$/m.exec(subject)?.[1];
}
