// Azure IoT Hub over MQTT 3.1.1 (mqtts 8883 or wss 443 /$iothub/websocket), with SAS tokens
// minted from the device key and renewed before expiry, or an X.509 client certificate.
// Sources: learn.microsoft.com "Communicate with an IoT hub using the MQTT protocol", "Control
// access to IoT Hub with SAS".
import { z } from 'zod';
import { duration, secret } from '../../config/primitives.ts';
import { COMMAND_LIMITS, type CommandResult } from '../../commands/command.ts';
import { REMOTE_CONFIG_KEY, type AdapterDefinition, type CloudAdapter, type ConnectOptions, type IncomingAction } from '../adapter.ts';
import { packJsonArrays } from '../batching.ts';
import { parseBoundedJson } from '../bounded-json.ts';
import { ClockNotSynchronizedError } from '../errors.ts';
import { cloudCommonFields } from '../link-config.ts';
import type { OutgoingMessage } from '../message.ts';
import { readTls } from '../tls-files.ts';
import { genericItemJson } from './mqtt.ts';
import { azureCredentials } from './azure/credentials.ts';
import { hubUrl, identityOf, partialIdentityOf, type AzureIdentity } from './azure/identity.ts';
import { provisioningSchema } from './azure/provisioning.ts';
import { deviceSasToken } from './azure/sas-token.ts';
import { parseDesiredPatchTopic, parseMethodTopic, parseTwinResponseTopic } from './azure/twin.ts';

export const AZURE_API_VERSION = '2021-04-12';
/** The hub's limit is 256 KB per message; a little room is kept for the property bag. */
const MAX_MESSAGE_BYTES = 256 * 1024 - 1024;
/** Desired properties under this key are a partial agent config; reported ones describe the agent. */
export const TWIN_KEY = REMOTE_CONFIG_KEY;

const configSchema = z
  .strictObject({
    provider: z.literal('azure'),
    ...cloudCommonFields,
    connectionString: secret().optional().meta({ description: 'The device connection string: HostName=…;DeviceId=…;SharedAccessKey=…' }),
    hostName: z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected a host name such as "myhub.azure-devices.net"').optional(),
    deviceId: z.string().min(1).max(128).optional(),
    sharedAccessKey: secret().optional(),
    transport: z.enum(['mqtts', 'wss']).default('mqtts').meta({ description: '"mqtts" (port 8883) or "wss" (port 443, for networks that only let HTTPS out).' }),
    tokenTtl: duration({ min: '10s', max: '365d' }).prefault('1h').meta({ description: 'Lifetime of each SAS token.' }),
    tokenRenewBefore: duration({ min: '1s' }).prefault('15m').meta({ description: 'Reconnect with a fresh token this long before the current one expires.' }),
    // The hub drops a client after 1.5 x keepalive, capped at 1767 s: 1177 s is the largest that works.
    keepalive: z.int().min(5).max(1177).default(180).meta({ description: 'Keepalive in seconds (at most 1177, the hub limit).' }),
    provisioning: provisioningSchema.optional(),
  })
  .superRefine((c, ctx) => {
    const direct = c.connectionString !== undefined || c.hostName !== undefined || c.deviceId !== undefined || c.sharedAccessKey !== undefined;
    if (c.provisioning && direct) {
      ctx.addIssue({ code: 'custom', path: ['provisioning'], message: 'expected either "provisioning" (DPS assigns the hub and device id) or "connectionString" / "hostName" and "deviceId", not both' });
    } else if (c.provisioning) {
      if (!c.provisioning.groupKey && !c.provisioning.deviceKey && !(c.tls?.cert && c.tls.key)) ctx.addIssue({ code: 'custom', path: ['provisioning'], message: 'expected "groupKey" (an enrollment group), "deviceKey" (an individual enrollment), or an X.509 certificate in tls.cert and tls.key' });
    } else if (!c.connectionString && !(c.hostName && c.deviceId)) {
      ctx.addIssue({ code: 'custom', path: ['connectionString'], message: 'expected "connectionString", "hostName" and "deviceId" (with "sharedAccessKey" or tls.cert and tls.key), or "provisioning" (DPS)' });
    }
    if (c.tokenRenewBefore >= c.tokenTtl) ctx.addIssue({ code: 'custom', path: ['tokenRenewBefore'], message: 'expected tokenRenewBefore shorter than tokenTtl' });
  })
  .meta({ title: 'Azure IoT Hub' });

export type AzureConfig = z.output<typeof configSchema>;

/** Direct methods carry the $rid to answer; cloud-to-device messages cannot be answered. */
type AzureReplyTo = { kind: 'method'; rid: string } | { kind: 'c2d' };

export const azureAdapter: AdapterDefinition<typeof configSchema, AzureIdentity> = {
  provider: 'azure',
  configSchema,
  credentials: azureCredentials,
  linkFacts(config) {
    if (config.provisioning) {
      // The hub is learned from DPS; the link to DPS carries a SAS token too unless the certificate attests.
      const symmetric = config.provisioning.groupKey !== undefined || config.provisioning.deviceKey !== undefined;
      return { url: config.url, credentials: symmetric ? 'the SAS token' : undefined, verifyCertificates: config.tls?.rejectUnauthorized ?? true };
    }
    const { host, key } = partialIdentityOf(config);
    // With X.509 the client certificate is the credential, and TLS never sends its private key.
    return { url: host ? hubUrl(config, host) : config.url, credentials: key ? 'the SAS token' : undefined, verifyCertificates: config.tls?.rejectUnauthorized ?? true };
  },
  describe(config, agentId) {
    const provisioning = config.provisioning;
    if (!provisioning) return undefined;
    const attestation = provisioning.groupKey ? 'enrollment group key' : provisioning.deviceKey ? 'individual enrollment key' : 'X.509 certificate';
    const registrationId = provisioning.registrationId ?? (attestation === 'X.509 certificate' ? "the certificate's common name" : agentId);
    return `via DPS ${provisioning.endpoint}, ID scope ${provisioning.idScope}, registration id ${registrationId} (${attestation})`;
  },
  create(config, ctx, credentials): CloudAdapter<AzureReplyTo, null> {
    // The registry hands the identity its credentials part resolved (a DPS assignment, or the config's)
    // before every connect; built on its own (unit tests) the adapter reads the config's.
    const identity = (): AzureIdentity => credentials?.current() ?? identityOf(config);
    const telemetryTopic = (deviceId: string) => `devices/${deviceId}/messages/events/$.ct=application%2Fjson&$.ce=utf-8`;
    let rid = 0;
    const nextRid = (prefix: string) => `${prefix}${++rid}`;
    const reported = (patch: unknown): OutgoingMessage => ({ topic: `$iothub/twin/PATCH/properties/reported/?$rid=${nextRid('r')}`, payload: JSON.stringify({ [TWIN_KEY]: patch }), qos: 0 });

    const configAction = (desired: unknown, version: number): IncomingAction<AzureReplyTo, null>[] => {
      const patch = (desired as Record<string, unknown> | undefined)?.[TWIN_KEY];
      if (patch === undefined || patch === null) return [];
      return [{ kind: 'config', version, patch, replyTo: null }];
    };

    return {
      provider: 'azure',
      maxMessageBytes: MAX_MESSAGE_BYTES,
      // IoT Hub meters messages in 4 KB blocks against a daily quota (S1: 400,000): a second of a
      // gateway's readings in one message keeps 10 readings/s at 86,400 messages a day instead of 864,000.
      // https://learn.microsoft.com/azure/iot-hub/iot-hub-devguide-quotas-throttling
      defaultLingerMs: 1000,
      connectOptions(): Promise<ConnectOptions> {
        const now = ctx.now();
        const id = identity();
        const base = {
          url: hubUrl(config, id.host),
          clientId: id.deviceId,
          username: `${id.host}/${id.deviceId}/?api-version=${AZURE_API_VERSION}`,
          protocolVersion: 4 as const,
          keepaliveSeconds: config.keepalive,
          // "Communicate with an IoT hub using the MQTT protocol": with CleanSession 0 the hub keeps the
          // subscriptions and queued cloud-to-device messages; direct methods fail fast while offline anyway.
          persistentSession: true,
          tls: { ...(config.tls ? readTls(config.tls) : { rejectUnauthorized: true }), servername: id.host },
        };
        if (!id.key) return Promise.resolve(base); // X.509: the client certificate is the credential
        // A token signed by a clock stuck in 1970 expires before it is sent; one from the future is refused.
        if (!ctx.clockSynchronized()) return Promise.reject(new ClockNotSynchronizedError(now));
        const expiry = Math.floor((now + config.tokenTtl) / 1000);
        return Promise.resolve({ ...base, password: deviceSasToken(id.host, id.deviceId, id.key, expiry), renewAt: expiry * 1000 - config.tokenRenewBefore });
      },
      subscriptions: () => [`devices/${identity().deviceId}/messages/devicebound/#`, '$iothub/methods/POST/#', '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#'],
      // Desired properties arrive only while connected: read the whole twin after every connect.
      onConnected: () => [{ topic: `$iothub/twin/GET/?$rid=${nextRid('get')}`, payload: '', qos: 0 }],
      encodeTelemetry: (records) => {
        const topic = telemetryTopic(identity().deviceId);
        return packJsonArrays(records, genericItemJson, MAX_MESSAGE_BYTES, () => topic);
      },
      decodeIncoming(message): IncomingAction<AzureReplyTo, null>[] {
        const deviceId = identity().deviceId;
        const method = parseMethodTopic(message.topic);
        if (method) {
          const replyTo: AzureReplyTo = { kind: 'method', rid: method.rid };
          // Both come from the topic: the hub's are short, and a longer one is answered rather than run.
          if (method.method === '' || method.method.length > COMMAND_LIMITS.nameChars || method.rid.length > COMMAND_LIMITS.idChars) {
            const error = `expected a method name of 1 to ${COMMAND_LIMITS.nameChars} characters and a $rid of at most ${COMMAND_LIMITS.idChars}`;
            return [{ kind: 'reply', reason: error, messages: [methodResponse(method.rid, 400, { error })] }];
          }
          let params: unknown = {};
          if (message.payload.length > 0) {
            const parsed = parseBoundedJson(message.payload);
            if (!parsed.ok) {
              const error = parsed.problem === 'syntax' ? 'the method payload is not valid JSON' : parsed.reason;
              return [{ kind: 'reply', reason: `method ${method.method}: ${error}`, messages: [methodResponse(method.rid, 400, { error })] }];
            }
            params = parsed.value;
          }
          return [{ kind: 'command', command: { id: method.rid, name: method.method, params: params ?? {}, origin: 'azure', replyTo } }];
        }
        const twin = parseTwinResponseTopic(message.topic);
        if (twin) {
          if (twin.status >= 300) return [{ kind: 'notice', level: 'warn', event: 'azure-twin-error', message: `the hub answered a twin request with status ${twin.status}` }];
          if (!twin.rid.startsWith('get') || message.payload.length === 0) return [];
          const doc = safeJson(message.payload) as { desired?: { $version?: number } } | undefined;
          return doc?.desired ? configAction(doc.desired, doc.desired.$version ?? 0) : [];
        }
        const desired = parseDesiredPatchTopic(message.topic);
        if (desired) return configAction(safeJson(message.payload), desired.version);
        if (message.topic.startsWith(`devices/${deviceId}/messages/devicebound/`)) {
          const body = safeJson(message.payload) as { id?: unknown; name?: unknown; params?: unknown } | undefined;
          if (!body || typeof body.name !== 'string' || body.name === '' || body.name.length > COMMAND_LIMITS.nameChars) return [{ kind: 'notice', level: 'warn', event: 'azure-c2d-ignored', message: 'a cloud-to-device message is not a command {"name", "params", "id"}; ignored' }];
          const replyTo: AzureReplyTo = { kind: 'c2d' };
          const id = (typeof body.id === 'string' && body.id !== '') || typeof body.id === 'number' ? String(body.id).slice(0, COMMAND_LIMITS.idChars) : `c2d-${nextRid('')}`;
          return [{ kind: 'command', command: { id, name: body.name, params: body.params ?? {}, origin: 'azure', replyTo } }];
        }
        return [{ kind: 'notice', level: 'info', event: 'azure-unexpected-topic', message: `ignored a message on ${message.topic}` }];
      },
      encodeReply(command, result: CommandResult): OutgoingMessage[] {
        const replyTo = command.replyTo;
        // A cloud-to-device message has no reply channel: its outcome is in the agent's audit log. A
        // method's response is only taken while the call waits (at most 300 s), so a late outcome is
        // reported in the twin instead (agentUpdate, from the facts).
        if (replyTo.kind !== 'method' || result.late) return [];
        return [methodResponse(replyTo.rid, result.status, result.ok ? (result.data ?? null) : { error: result.message ?? 'failed', ...(result.data === undefined ? {} : { data: result.data }) })];
      },
      encodeConfigResult: (action, outcome) => [reported({ appliedConfigVersion: outcome.applied ? action.version : undefined, lastConfigChange: { version: action.version, applied: outcome.applied, message: outcome.message ?? null } })],
      encodeFacts: (facts) => [reported(facts)],
    };
  },
};

function methodResponse(rid: string, status: number, body: unknown): OutgoingMessage {
  return { topic: `$iothub/methods/res/${status}/?$rid=${rid}`, payload: JSON.stringify(body), qos: 1 };
}

/** The payload as JSON, or undefined when it is not JSON or too large or deep to parse (bounded-json.ts). */
function safeJson(payload: Buffer): unknown {
  const parsed = parseBoundedJson(payload);
  return parsed.ok ? parsed.value : undefined;
}
