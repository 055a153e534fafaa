// Xyte (xyte.io): the device registers once over HTTPS (xyte/credentials.ts, run by the registry's
// credentials seam), then speaks MQTT 5 with its id and access key, repeating both as user
// properties on every publish. Telemetry is flat `telemetries`,
// commands are answered in_progress then done/failed, config pushes are applied when newer.
// Sources: dev.xyte.io reference ("Register device", "Setting up MQTT", "MQTT events", "Subscribe topics").
import { z } from 'zod';
import { duration, secret } from '../../config/primitives.ts';
import { AGENT_VERSION } from '../../version.ts';
import { REMOTE_CONFIG_KEY, type AdapterDefinition, type CloudAdapter, type ConnectOptions, type EncodedTelemetry, type IncomingAction } from '../adapter.ts';
import { credentialsContext } from '../credentials/supervised-adapter.ts';
import { CredentialsUnavailableError } from '../errors.ts';
import { cloudCommonFields } from '../link-config.ts';
import { linkWarnings, logLinkWarnings, type LinkFacts } from '../link-warnings.ts';
import type { OutgoingMessage } from '../message.ts';
import { readTls } from '../tls-files.ts';
import { readAppliedConfig, storeAppliedConfig, type AppliedXyteConfig } from './xyte/applied-config.ts';
import { xyteCredentials } from './xyte/credentials.ts';
import { commandStatusBody, parseCommand, parseConfigPush, resultMessage, telemetryBody } from './xyte/messages.ts';
import type { XyteCredentials } from './xyte/registration.ts';

const MAX_MESSAGE_BYTES = 256 * 1024;
export const XYTE_REGISTRATION_URL = 'https://entry.xyte.io/v1/devices';

const registrationSchema = z
  .strictObject({
    url: z.url({ protocol: /^https$/, error: 'expected an https:// URL' }).default(XYTE_REGISTRATION_URL),
    sn: z.string().min(1).max(128).meta({ description: 'The serial number the device registers with (printed on the gateway). Registered once: Xyte refuses a repeated one.' }),
    hardwareKey: secret().meta({ description: "The device model's hardware key from the Xyte partner portal." }),
    firmwareVersion: z
      .string()
      .regex(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'expected a semantic version such as "1.4.2"')
      .default(AGENT_VERSION)
      .meta({ description: "Semantic version reported to Xyte. Default: this agent's version." }),
    mac: z
      .union([z.literal('auto'), z.string().regex(/^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/, 'expected a MAC address such as "b8:27:eb:12:34:56", or "auto"')])
      .optional()
      .meta({ description: 'MAC address for the MAC+SN method; "auto" takes the first wired or wireless interface. Or give cloudId.' }),
    cloudId: z.string().min(1).max(128).optional().meta({ description: 'Cloud ID for the Cloud-ID method (instead of mac).' }),
    name: z.string().min(1).max(128).optional().meta({ description: 'Name shown in the Xyte portal.' }),
    retryMin: duration({ min: '1s', max: '1d' }).prefault('10m').meta({ description: 'First wait after a failed registration (Xyte asks for 10-30 min).' }),
    retryMax: duration({ min: '1s', max: '1d' }).prefault('30m').meta({ description: 'Longest wait between registration attempts.' }),
  })
  .superRefine((r, ctx) => {
    if (r.mac === undefined && r.cloudId === undefined) ctx.addIssue({ code: 'custom', path: ['mac'], message: 'expected "mac" (MAC+SN registration, "auto" allowed) or "cloudId" (Cloud-ID registration)' });
    if (r.mac !== undefined && r.cloudId !== undefined) ctx.addIssue({ code: 'custom', path: ['cloudId'], message: 'expected only one of "mac" and "cloudId"' });
    if (r.retryMax < r.retryMin) ctx.addIssue({ code: 'custom', path: ['retryMax'], message: 'expected retryMax to be at least retryMin' });
  });

const configSchema = z
  .strictObject({
    provider: z.literal('xyte'),
    ...cloudCommonFields,
    registration: registrationSchema.optional().meta({ description: 'Register over HTTPS on first start; the credentials obtained are kept in the data dir (mode 0600).' }),
    id: z.string().min(1).max(128).regex(/^[^/+#\s]+$/, 'expected the device id from Xyte (no "/", "+", "#" or spaces)').optional().meta({ description: 'Device id, when the device was registered elsewhere. Needs accessKey.' }),
    accessKey: secret().optional().meta({ description: 'Access key that goes with id.' }),
    mqttHubUrl: z.url({ protocol: /^(mqtts?|wss?)$/, error: 'expected the mqtt_hub_url Xyte gave, such as "mqtts://hub.example.xyte.io:8883"' }).optional().meta({ description: 'MQTT hub that goes with id (the registration answer gives it otherwise).' }),
    keepalive: duration({ min: '10s', max: '20m' }).prefault('60s').meta({ description: 'MQTT keepalive.' }),
    heartbeat: duration({ min: '5s', max: '60s' }).prefault('30s').meta({ description: 'A status message is sent when no telemetry went out for this long (Xyte wants one at least every minute).' }),
  })
  .superRefine((c, ctx) => {
    if ((c.id === undefined) !== (c.accessKey === undefined)) ctx.addIssue({ code: 'custom', path: [c.id === undefined ? 'id' : 'accessKey'], message: 'expected "id" and "accessKey" together' });
    if (c.id === undefined && c.registration === undefined) ctx.addIssue({ code: 'custom', path: ['registration'], message: 'expected "registration" (sn, hardwareKey, mac or cloudId) or the credentials "id", "accessKey" and "mqttHubUrl"' });
    if (c.id !== undefined && c.mqttHubUrl === undefined && c.url === undefined) ctx.addIssue({ code: 'custom', path: ['mqttHubUrl'], message: 'expected "mqttHubUrl" with "id" and "accessKey"' });
  })
  .meta({ title: 'Xyte' });

export type XyteConfig = z.output<typeof configSchema>;

type XyteReplyTo = { topic: string; correlationData?: Buffer };
type ConfigReplyTo = { push: Record<string, unknown> };

/** The hub URL is in the config only with given credentials (or cloud.url); otherwise registration returns it. */
function xyteLinkFacts(config: XyteConfig): LinkFacts {
  return { url: config.url ?? (config.id !== undefined ? config.mqttHubUrl : undefined), credentials: 'the access key', verifyCertificates: config.tls?.rejectUnauthorized ?? true };
}

export const xyteAdapter: AdapterDefinition<typeof configSchema, XyteCredentials> = {
  provider: 'xyte',
  configSchema,
  linkFacts: xyteLinkFacts,
  credentials: xyteCredentials,
  create(config, ctx, held): CloudAdapter<XyteReplyTo, ConfigReplyTo> {
    const store = credentialsContext(ctx).store;
    let current: XyteCredentials | undefined;
    /** The last applied config push of the current device, read when its credentials arrive (never while decoding). */
    let applied: AppliedXyteConfig | undefined;
    let lastTelemetryAt = Number.NEGATIVE_INFINITY;
    // A hub URL from registration was not in the config the agent judged at start: judge it at the first connect.
    let hubJudged = xyteLinkFacts(config).url !== undefined;
    const topic = (suffix: string) => `v1/device/${current?.id ?? '-'}/${suffix}`;
    const appliedVersion = () => (current && applied?.deviceId === current.id ? applied.version : 0);

    return {
      provider: 'xyte',
      maxMessageBytes: MAX_MESSAGE_BYTES,
      // Readings that share a timestamp share a message (xyte has one timestamp per message).
      defaultLingerMs: 50,
      connectOptions(): Promise<ConnectOptions> {
        const credentials = held?.current();
        if (!credentials) return Promise.reject(new CredentialsUnavailableError('no Xyte credentials yet: create the adapter through the registry (adapters/index.ts), which registers the device', 0));
        if (credentials.id !== current?.id) applied = readAppliedConfig(store, credentials.id);
        current = credentials;
        const url = config.url ?? current.mqttHubUrl;
        if (!hubJudged) {
          hubJudged = true;
          const facts = xyteLinkFacts(config);
          const judgedAtStart = new Set(linkWarnings(facts).map((w) => w.event));
          logLinkWarnings(ctx.log, linkWarnings({ ...facts, url }).filter((w) => !judgedAtStart.has(w.event)));
        }
        return Promise.resolve({
          url,
          clientId: current.id,
          username: current.id,
          password: current.accessKey,
          protocolVersion: 5,
          keepaliveSeconds: Math.round(config.keepalive / 1000),
          persistentSession: true,
          userPropertiesOnEveryPublish: { device_id: current.id, access_key: current.accessKey },
          ...(config.tls ? { tls: readTls(config.tls) } : {}),
        });
      },
      subscriptions: () => [topic('commands'), topic('command'), topic('config')],
      encodeTelemetry(records) {
        const messages: OutgoingMessage[] = [];
        const rejected: EncodedTelemetry['rejected'] = [];
        // A Xyte body has one timestamp and flat telemetries keyed "<sensor>.<field>": readings taken at the
        // same millisecond (one Modbus sweep, sensors on one tick) share a message; any other reading goes alone.
        let shared: { ts: number; body: ReturnType<typeof telemetryBody>; bytes: number } | undefined;
        const flush = () => {
          if (shared) messages.push({ topic: topic('telemetry'), payload: JSON.stringify(shared.body), qos: 1 });
          shared = undefined;
        };
        for (const record of records) {
          const body = telemetryBody(record);
          const bytes = Buffer.byteLength(JSON.stringify(body));
          if (bytes > MAX_MESSAGE_BYTES) {
            rejected.push({ record, reason: `reading is ${bytes} bytes, over the 256 KB limit` });
            continue;
          }
          const fits = shared && !record.clockUnsynced && shared.body.timestamp !== undefined && shared.ts === record.ts && shared.bytes + bytes <= MAX_MESSAGE_BYTES && Object.keys(body.telemetries).every((key) => !(key in shared!.body.telemetries));
          if (fits) {
            Object.assign(shared!.body.telemetries, body.telemetries);
            shared!.bytes += bytes;
          } else {
            flush();
            shared = { ts: record.ts, body, bytes };
          }
        }
        flush();
        if (messages.length > 0) lastTelemetryAt = ctx.now();
        return { messages, rejected };
      },
      heartbeat: {
        intervalMs: config.heartbeat / 2,
        encode() {
          // Checked twice per period so the gap between messages never exceeds the period.
          if (ctx.now() - lastTelemetryAt < config.heartbeat / 2) return [];
          lastTelemetryAt = ctx.now();
          return [{ topic: topic('telemetry'), payload: JSON.stringify({ status: 'online', ...(ctx.clockSynchronized() ? { timestamp: new Date(ctx.now()).toISOString() } : {}), telemetries: {} }), qos: 1 }];
        },
      },
      decodeIncoming(message): IncomingAction<XyteReplyTo, ConfigReplyTo>[] {
        if (message.topic === topic('config')) return configAction(message.payload);
        if (message.topic !== topic('commands') && message.topic !== topic('command')) return [];
        const replyTo: XyteReplyTo = { topic: message.properties?.responseTopic ?? topic('commands/update'), ...(message.properties?.correlationData ? { correlationData: message.properties.correlationData } : {}) };
        const request = parseCommand(message.payload);
        if ('error' in request) {
          const messages = request.id !== undefined ? [statusMessage(replyTo, request.id, 'failed', request.error)] : [];
          return [{ kind: 'reply', reason: request.error, messages }];
        }
        return [{ kind: 'command', command: { id: request.id, name: request.name, params: request.parameters, origin: 'xyte', replyTo } }];
      },
      encodeAccepted: (command) => [statusMessage(command.replyTo, command.id, 'in_progress')],
      // 202: accepted, the outcome follows as a late reply (agent.update); in_progress went out already.
      encodeReply: (command, result) => (result.status === 202 ? [] : [statusMessage(command.replyTo, command.id, result.ok ? 'done' : 'failed', resultMessage(result))]),
      encodeConfigResult(action, outcome) {
        const { push } = action.replyTo;
        if (!current) return [];
        if (outcome.applied) {
          applied = { deviceId: current.id, version: action.version, body: push };
          storeAppliedConfig(store, applied);
          return [{ topic: topic('config/update'), payload: JSON.stringify(push), qos: 1 }];
        }
        // Refused: echo what is still in effect, with the reason, so the portal does not show the new version as applied.
        const inEffect = (applied?.deviceId === current.id ? applied.body : undefined) ?? { version: 0 };
        return [{ topic: topic('config/update'), payload: JSON.stringify({ ...inEffect, error: `version ${action.version} refused: ${outcome.message ?? 'invalid'}` }), qos: 1 }];
      },
    };

    function configAction(payload: Buffer): IncomingAction<XyteReplyTo, ConfigReplyTo>[] {
      const push = parseConfigPush(payload);
      if ('error' in push) return [{ kind: 'notice', level: 'warn', event: 'xyte-config-malformed', message: `ignored a config push: ${push.error}` }];
      const version = appliedVersion();
      if (push.version <= version) return [{ kind: 'notice', level: 'info', event: 'xyte-config-current', message: `config version ${push.version} is not newer than the applied version ${version}: nothing to do`, fields: { version: push.version } }];
      const replyTo: ConfigReplyTo = { push: push.body };
      // Only the agent's own key is agent config; the rest of Xyte's device config is echoed untouched.
      return [{ kind: 'config', version: push.version, patch: push.body[REMOTE_CONFIG_KEY] ?? {}, replyTo }];
    }
  },
};

function statusMessage(replyTo: XyteReplyTo, id: string, status: 'in_progress' | 'done' | 'failed', message?: string): OutgoingMessage {
  return { topic: replyTo.topic, payload: commandStatusBody(id, status, message), qos: 1, ...(replyTo.correlationData ? { properties: { correlationData: replyTo.correlationData } } : {}) };
}

