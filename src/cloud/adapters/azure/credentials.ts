// Azure's credentials part (credentials/credentials-part.ts). With a connection string (or hostName,
// deviceId and key or certificate) the identity is the config's. With cloud.provisioning it is a
// DPS assignment: the stored one when it was made for this scope, registration id and key or
// certificate, else a registration with DPS now (dps-client.ts), kept in the device store. A hub that
// refuses an assigned identity (the device was deleted or disabled) has it set aside, and the next
// connect registers again; when DPS cannot be reached then, the set-aside assignment comes back, so
// a DPS outage never costs a gateway the hub it had.
import type { CredentialsContext, CredentialsPart } from '../../credentials/credentials-part.ts';
import { isTransientRefusal, RegistrationError } from '../../credentials/registration-error.ts';
import { ClockNotSynchronizedError } from '../../errors.ts';
import { readTls } from '../../tls-files.ts';
import type { AzureConfig } from '../azure.ts';
import { ASSIGNMENT_FILE, readAssignment, type StoredAssignment } from './assignment.ts';
import { registerWithDps } from './dps-client.ts';
import { dpsUrl, hubUrl, identityOf, type AzureIdentity } from './identity.ts';
import { attestationFingerprint, attestationOf, certificateCommonName, REGISTRATION_ID, type Attestation, type ProvisioningConfig } from './provisioning.ts';
import { registrationSasToken } from './sas-token.ts';

/** The SDK's DPS token life (azure-iot-common anHourFromNow): a registration takes seconds. */
const REGISTRATION_TOKEN_SECONDS = 3600;

interface Plan {
  provisioning: ProvisioningConfig;
  registrationId: string;
  attestation: Attestation;
  fingerprint: string;
}

/**
 * The registration this config asks for. The registration id defaults to the agent id, or with an
 * X.509 certificate to its common name (DPS requires the two to be equal). Throws RegistrationError
 * ('invalid') with the config path when the config cannot register as it stands.
 */
function planOf(config: AzureConfig, ctx: CredentialsContext): Plan {
  const provisioning = config.provisioning!;
  const tls = config.tls ? readTls(config.tls) : undefined;
  const usesCertificate = !provisioning.groupKey && !provisioning.deviceKey;
  const commonName = usesCertificate && tls?.cert ? certificateCommonName(tls.cert) : undefined;
  const registrationId = provisioning.registrationId ?? commonName ?? ctx.agentId;
  if (!REGISTRATION_ID.test(registrationId)) {
    throw new RegistrationError(`the agent id "${registrationId.slice(0, 64)}" is not a valid DPS registration id (letters, digits, ":", ".", "_" or "-", at most 128, starting and ending with a letter or digit): set cloud.provisioning.registrationId`, 'invalid');
  }
  if (commonName !== undefined && commonName.toLowerCase() !== registrationId.toLowerCase()) {
    throw new RegistrationError(`cloud.provisioning.registrationId "${registrationId}" is not the common name "${commonName.slice(0, 64)}" of cloud.tls.cert: with X.509, DPS takes the certificate's common name as the registration id`, 'invalid');
  }
  let attestation: Attestation;
  try {
    attestation = attestationOf(provisioning, registrationId, tls);
  } catch (error) {
    throw new RegistrationError((error as Error).message, 'invalid', undefined, { cause: error });
  }
  return { provisioning, registrationId, attestation, fingerprint: attestationFingerprint(attestation) };
}

function identityOfAssignment(assignment: Pick<StoredAssignment, 'assignedHub' | 'deviceId'>, attestation: Attestation): AzureIdentity {
  return { host: assignment.assignedHub, deviceId: assignment.deviceId, ...(attestation.kind === 'symmetricKey' ? { key: attestation.deviceKey } : {}) };
}

function expected(plan: Plan) {
  return { idScope: plan.provisioning.idScope, registrationId: plan.registrationId, attestation: plan.fingerprint };
}

export const azureCredentials: CredentialsPart<AzureConfig, AzureIdentity> = {
  cloud: 'Azure DPS',
  kept: 'assignment',
  resolve(config, ctx) {
    if (!config.provisioning) return Promise.resolve({ credentials: identityOf(config), source: 'config' });
    const plan = planOf(config, ctx);
    const stored = readAssignment(ctx.store, expected(plan));
    return Promise.resolve(stored ? { credentials: identityOfAssignment(stored, plan.attestation), source: 'stored' } : undefined);
  },
  async register(config, ctx) {
    const plan = planOf(config, ctx);
    const { provisioning, registrationId, attestation } = plan;
    // A SAS token signed by a clock stuck in 1970 is refused: wait for time sync, as the hub connect does.
    if (attestation.kind === 'symmetricKey' && !ctx.clockSynchronized()) throw new ClockNotSynchronizedError(ctx.now());
    const tls = config.tls ? readTls(config.tls) : { rejectUnauthorized: true };
    let assignment;
    try {
      assignment = await registerWithDps(
        {
          url: dpsUrl(config)!,
          idScope: provisioning.idScope,
          registrationId,
          ...(attestation.kind === 'symmetricKey' ? { password: registrationSasToken(provisioning.idScope, registrationId, attestation.deviceKey, Math.floor(ctx.now() / 1000) + REGISTRATION_TOKEN_SECONDS) } : {}),
          tls: attestation.kind === 'x509' ? { ...tls, cert: attestation.cert, key: attestation.key } : { ...tls, cert: undefined, key: undefined },
          ...(provisioning.payload !== undefined ? { payload: provisioning.payload } : {}),
          clientVersion: `edge-agent/${ctx.agentVersion}`,
          connectTimeoutMs: config.connectTimeout,
        },
        { connect: ctx.mqttConnect, timers: ctx.timers },
      );
    } catch (error) {
      if (!(error instanceof RegistrationError)) throw error;
      if (isTransientRefusal(error.refusal)) {
        const previous = readAssignment(ctx.store, expected(plan), true);
        if (previous) {
          ctx.store.restore(ASSIGNMENT_FILE);
          ctx.log.warn({ event: 'azure-dps-kept-assignment', deviceId: previous.deviceId, hub: previous.assignedHub }, `DPS cannot register ${registrationId} now (${error.message}): keeping the previous assignment (device ${previous.deviceId} on ${previous.assignedHub}) and trying that hub again`);
        }
      }
      throw new RegistrationError(`registration id "${registrationId}": ${error.message}`, error.refusal, error.httpStatus, { cause: error, ...(error.retryAfterMs !== undefined ? { retryAfterMs: error.retryAfterMs } : {}) });
    }
    const stored: StoredAssignment = { ...expected(plan), assignedHub: assignment.assignedHub, deviceId: assignment.deviceId, ...(assignment.substatus ? { substatus: assignment.substatus } : {}), assignedAt: ctx.now() };
    ctx.store.write(ASSIGNMENT_FILE, stored);
    ctx.log.info(
      { event: 'azure-dps-assigned', registrationId, deviceId: assignment.deviceId, hub: assignment.assignedHub, substatus: assignment.substatus },
      `DPS assigned registration ${registrationId} to device ${assignment.deviceId} on ${assignment.assignedHub}${assignment.substatus ? ` (${assignment.substatus})` : ''}; the assignment is kept in the data dir`,
    );
    return identityOfAssignment(assignment, attestation);
  },
  refused(config, ctx, { credentials, source }) {
    if (source === 'config') {
      const what = credentials.key ? 'cloud.connectionString (or sharedAccessKey)' : 'cloud.tls.cert and cloud.tls.key';
      ctx.log.error({ event: 'azure-credentials-refused', deviceId: credentials.deviceId, hub: credentials.host }, `IoT Hub ${credentials.host} refused device ${credentials.deviceId}: check ${what} (the key may have been regenerated, or the device disabled or deleted in the hub). Retrying with backoff.`);
      return Promise.resolve();
    }
    ctx.log.warn(
      { event: 'azure-dps-identity-refused', deviceId: credentials.deviceId, hub: credentials.host },
      `IoT Hub ${credentials.host} refused device ${credentials.deviceId} that DPS assigned (deleted, disabled or re-keyed in the hub): registering with DPS ${config.provisioning?.endpoint ?? ''} again`,
    );
    ctx.store.setAside(ASSIGNMENT_FILE);
    return Promise.resolve();
  },
  backoff: (config) => (config.provisioning ? { minMs: config.provisioning.retryMin, maxMs: config.provisioning.retryMax, jitter: 0.2 } : { minMs: 0, maxMs: 0, jitter: 0 }),
  failure(config, error) {
    const hint = advice(config, error);
    return `Azure DPS${config.provisioning ? ` (ID scope ${config.provisioning.idScope})` : ''} registration failed, ${error.message}${hint ? `; ${hint}` : ''}`;
  },
  describe: (config, credentials) => ({
    deviceId: credentials.deviceId,
    endpoint: hubUrl(config, credentials.host),
    details: config.provisioning ? [['assigned hub', credentials.host], ['DPS', `${config.provisioning.endpoint} (ID scope ${config.provisioning.idScope})`]] : [],
  }),
  registers: (config) => config.provisioning !== undefined,
  registrationEndpoint(config) {
    const url = dpsUrl(config);
    if (!url || !config.provisioning) return undefined;
    const tls = config.tls ? readTls(config.tls) : { rejectUnauthorized: true };
    return { name: 'DPS', url, tls };
  },
};

function advice(config: AzureConfig, error: RegistrationError): string {
  const provisioning = config.provisioning;
  if (!provisioning) return '';
  switch (error.refusal) {
    case 'unauthorized':
      if (provisioning.groupKey) return `check cloud.provisioning.groupKey: it must be the primary or secondary key of an enrollment group in ID scope ${provisioning.idScope} (the agent derives this gateway's key from it; a key already derived does not work here)`;
      if (provisioning.deviceKey) return 'check cloud.provisioning.deviceKey: it must be the primary or secondary key of the individual enrollment of this registration id, and that enrollment must exist';
      return 'check that the certificate in cloud.tls.cert is enrolled in DPS (individually, or issued by the verified CA of an enrollment group)';
    case 'unknown':
      return `DPS has no enrollment that applies to this gateway: check cloud.provisioning.idScope and cloud.provisioning.registrationId, and the enrollments (Azure portal: DPS > Manage enrollments)`;
    case 'disabled':
      return 'the enrollment is disabled in DPS: enable it (Azure portal: DPS > Manage enrollments) to let this gateway in';
    case 'invalid':
      return 'check cloud.provisioning (registrationId, payload)';
    case 'unreachable':
      return `check the uplink, DNS, and that port ${config.transport === 'wss' ? 443 : 8883} is open outbound to ${provisioning.endpoint} (cloud.provisioning.endpoint; cloud.transport "wss" uses 443)`;
    default:
      return '';
  }
}
