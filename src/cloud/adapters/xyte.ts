// Xyte (xyte.io): the device registers once over HTTPS, then speaks MQTT 5 with its id and access
// key, repeating both as user properties on every publish. Telemetry is flat `telemetries`,
// commands are answered in_progress then done/failed, config pushes are applied when newer.
// Sources: dev.xyte.io reference ("Register device", "Setting up MQTT", "MQTT events", "Subscribe topics").
import { networkInterfaces } from 'node:os';
import { z } from 'zod';
import type { Command, CommandResult } from '../../commands/command.ts';
import { duration, secret } from '../../config/primitives.ts';
import { AGENT_VERSION } from '../../version.ts';
import { REMOTE_CONFIG_KEY, type AdapterDefinition, type CloudAdapter, type ConnectOptions, type EncodedTelemetry, type IncomingAction } from '../adapter.ts';
import { CredentialsUnavailableError } from '../errors.ts';
import { cloudCommonFields } from '../link-config.ts';
import { linkWarnings, logLinkWarnings, type LinkFacts } from '../link-warnings.ts';
import type { OutgoingMessage } from '../message.ts';
import { readTls } from '../tls-files.ts';
import { readAppliedConfig, storeAppliedConfig } from './xyte/applied-config.ts';
import { commandStatusBody, parseCommand, parseConfigPush, resultMessage, telemetryBody } from './xyte/messages.ts';
import { readStoredCredentials, registerXyteDevice, restoreSetAsideCredentials, setCredentialsAside, storeCredentials, XyteRegistrationError, type XyteCredentials } from './xyte/registration.ts';

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

/**
 * Gets the device's credentials: from the config, else from the data dir, else by registering
 * (and storing what Xyte answers). Throws XyteRegistrationError when registration is refused.
 */
export async function resolveXyteCredentials(config: XyteConfig, dataDir: string): Promise<{ credentials: XyteCredentials; source: 'config' | 'stored' | 'registered' }> {
  if (config.id !== undefined && config.accessKey !== undefined) {
    return { credentials: { id: config.id, accessKey: config.accessKey.reveal(), mqttHubUrl: config.mqttHubUrl ?? config.url ?? '', sn: config.registration?.sn ?? '' }, source: 'config' };
  }
  const registration = config.registration!;
  const stored = readStoredCredentials(dataDir, registration.sn);
  if (stored) return { credentials: stored, source: 'stored' };
  const mac = registration.mac === 'auto' ? primaryMac() : registration.mac;
  const credentials = await registerXyteDevice({
    url: registration.url,
    sn: registration.sn,
    firmwareVersion: registration.firmwareVersion,
    hardwareKey: registration.hardwareKey.reveal(),
    ...(mac !== undefined ? { mac } : {}),
    ...(registration.cloudId !== undefined ? { cloudId: registration.cloudId } : {}),
    ...(registration.name !== undefined ? { name: registration.name } : {}),
    ...(config.tls ? { ca: readTls(config.tls).ca, rejectUnauthorized: config.tls.rejectUnauthorized } : {}),
  });
  storeCredentials(dataDir, credentials);
  return { credentials, source: 'registered' };
}

/** The hub URL is in the config only with given credentials (or cloud.url); otherwise registration returns it. */
function xyteLinkFacts(config: XyteConfig): LinkFacts {
  return { url: config.url ?? (config.id !== undefined ? config.mqttHubUrl : undefined), credentials: 'the access key', verifyCertificates: config.tls?.rejectUnauthorized ?? true };
}

export const xyteAdapter: AdapterDefinition<typeof configSchema> = {
  provider: 'xyte',
  configSchema,
  linkFacts: xyteLinkFacts,
  create(config, ctx): CloudAdapter {
    let current: XyteCredentials | undefined;
    let source: 'config' | 'stored' | 'registered' = 'config';
    let registrationFailures = 0;
    let lastRegistrationAttemptAt = Number.NEGATIVE_INFINITY;
    let refusalLogged = false;
    let lastTelemetryAt = Number.NEGATIVE_INFINITY;
    // A hub URL from registration was not in the config the agent judged at start: judge it at the first connect.
    let hubJudged = xyteLinkFacts(config).url !== undefined;
    const topic = (suffix: string) => `v1/device/${current?.id ?? '-'}/${suffix}`;
    const appliedVersion = () => (current ? (readAppliedConfig(ctx.dataDir, current.id)?.version ?? 0) : 0);

    const credentials = async (): Promise<XyteCredentials> => {
      const registration = config.registration;
      const attemptingRegistration = config.id === undefined && registration !== undefined && !readStoredCredentials(ctx.dataDir, registration.sn);
      if (attemptingRegistration && ctx.readOnly) throw new CredentialsUnavailableError(`not registered with Xyte yet (no credentials in ${ctx.dataDir}): the agent registers on its first start, or run: edge-agent register`, 0);
      if (attemptingRegistration) lastRegistrationAttemptAt = ctx.now();
      try {
        const resolved = await resolveXyteCredentials(config, ctx.dataDir);
        source = resolved.source;
        if (resolved.source === 'registered') {
          registrationFailures = 0;
          ctx.log.info({ event: 'xyte-registered', deviceId: resolved.credentials.id, sn: resolved.credentials.sn }, `registered with Xyte as device ${resolved.credentials.id} (sn ${resolved.credentials.sn}); credentials kept in the data dir`);
        }
        return resolved.credentials;
      } catch (error) {
        if (!(error instanceof XyteRegistrationError) || !registration) throw error;
        if (error.refusal === 'duplicate') {
          // The device still exists in Xyte: credentials refused earlier were not a deletion after all.
          const restored = restoreSetAsideCredentials(ctx.dataDir, registration.sn);
          if (restored) {
            ctx.log.warn({ event: 'xyte-still-registered', deviceId: restored.id }, `Xyte says sn ${registration.sn} is still registered: keeping the credentials of device ${restored.id} and retrying them`);
            source = 'stored';
            return restored;
          }
        }
        const retryMs = registrationRetryDelay(registrationFailures++, registration.retryMin, registration.retryMax);
        throw new CredentialsUnavailableError(`Xyte registration of sn ${registration.sn} failed: ${error.message}; ${registrationAdvice(error)}retrying in ${formatDelay(retryMs)}`, retryMs, { cause: error });
      }
    };

    return {
      provider: 'xyte',
      maxMessageBytes: MAX_MESSAGE_BYTES,
      async connectOptions(): Promise<ConnectOptions> {
        current = await credentials();
        const url = config.url ?? current.mqttHubUrl;
        if (!hubJudged) {
          hubJudged = true;
          const facts = xyteLinkFacts(config);
          const judgedAtStart = new Set(linkWarnings(facts).map((w) => w.event));
          logLinkWarnings(ctx.log, linkWarnings({ ...facts, url }).filter((w) => !judgedAtStart.has(w.event)));
        }
        return {
          url,
          clientId: current.id,
          username: current.id,
          password: current.accessKey,
          protocolVersion: 5,
          keepaliveSeconds: Math.round(config.keepalive / 1000),
          persistentSession: true,
          userPropertiesOnEveryPublish: { device_id: current.id, access_key: current.accessKey },
          ...(config.tls ? { tls: readTls(config.tls) } : {}),
        };
      },
      subscriptions: () => [topic('commands'), topic('command'), topic('config')],
      onConnected() {
        refusalLogged = false;
        return [];
      },
      encodeTelemetry(records) {
        const messages: OutgoingMessage[] = [];
        const rejected: EncodedTelemetry['rejected'] = [];
        for (const record of records) {
          // One message per reading: Xyte's body has a single timestamp.
          const payload = JSON.stringify(telemetryBody(record));
          if (Buffer.byteLength(payload) > MAX_MESSAGE_BYTES) rejected.push({ record, reason: `reading is ${Buffer.byteLength(payload)} bytes, over the 256 KB limit` });
          else messages.push({ topic: topic('telemetry'), payload, qos: 1 });
        }
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
      decodeIncoming(message): IncomingAction[] {
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
      encodeAccepted: (command: Command) => [statusMessage(command.replyTo as XyteReplyTo, command.id, 'in_progress')],
      encodeReply: (command: Command, result: CommandResult) => [statusMessage(command.replyTo as XyteReplyTo, command.id, result.ok ? 'done' : 'failed', resultMessage(result))],
      encodeConfigResult(action, outcome) {
        const { push } = action.replyTo as ConfigReplyTo;
        if (!current) return [];
        if (outcome.applied) {
          storeAppliedConfig(ctx.dataDir, { deviceId: current.id, version: action.version, body: push });
          return [{ topic: topic('config/update'), payload: JSON.stringify(push), qos: 1 }];
        }
        // Refused: echo what is still in effect, with the reason, so the portal does not show the new version as applied.
        const inEffect = readAppliedConfig(ctx.dataDir, current.id)?.body ?? { version: 0 };
        return [{ topic: topic('config/update'), payload: JSON.stringify({ ...inEffect, error: `version ${action.version} refused: ${outcome.message ?? 'invalid'}` }), qos: 1 }];
      },
      onAuthRejected() {
        if (source === 'config') {
          if (!refusalLogged) ctx.log.error({ event: 'xyte-credentials-refused', deviceId: current?.id }, `Xyte refused the access key of device ${current?.id ?? '?'}: check cloud.id and cloud.accessKey (the device may have been deleted in the Xyte portal). Retrying with backoff.`);
          refusalLogged = true;
          return Promise.resolve();
        }
        // doctor (readOnly) only looks: setting the stored credentials aside would make the agent register again.
        if (ctx.readOnly) return Promise.resolve();
        const retryMin = config.registration?.retryMin ?? 0;
        if (ctx.now() - lastRegistrationAttemptAt < retryMin) return Promise.resolve(); // just tried: do not hammer the registration endpoint
        ctx.log.warn({ event: 'xyte-device-deleted', deviceId: current?.id }, `Xyte refused the stored credentials of device ${current?.id ?? '?'}: the device was probably deleted in the portal; registering again`);
        setCredentialsAside(ctx.dataDir);
        return Promise.resolve();
      },
    };

    function configAction(payload: Buffer): IncomingAction[] {
      const push = parseConfigPush(payload);
      if ('error' in push) return [{ kind: 'notice', level: 'warn', event: 'xyte-config-malformed', message: `ignored a config push: ${push.error}` }];
      const applied = appliedVersion();
      if (push.version <= applied) return [{ kind: 'notice', level: 'info', event: 'xyte-config-current', message: `config version ${push.version} is not newer than the applied version ${applied}: nothing to do`, fields: { version: push.version } }];
      const replyTo: ConfigReplyTo = { push: push.body };
      // Only the agent's own key is agent config; the rest of Xyte's device config is echoed untouched.
      return [{ kind: 'config', version: push.version, patch: push.body[REMOTE_CONFIG_KEY] ?? {}, replyTo }];
    }
  },
};

function statusMessage(replyTo: XyteReplyTo, id: string, status: 'in_progress' | 'done' | 'failed', message?: string): OutgoingMessage {
  return { topic: replyTo.topic, payload: commandStatusBody(id, status, message), qos: 1, ...(replyTo.correlationData ? { properties: { correlationData: replyTo.correlationData } } : {}) };
}

/** Exponential from retryMin, capped at retryMax, with ±20 % jitter so a fleet restarted together spreads out. */
export function registrationRetryDelay(failures: number, minMs: number, maxMs: number, random: () => number = Math.random): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
  return Math.round(Math.min(maxMs, Math.max(minMs, base * (0.8 + 0.4 * random()))));
}

function registrationAdvice(error: XyteRegistrationError): string {
  switch (error.refusal) {
    case 'duplicate':
      return 'this serial number is already registered: if the gateway lost its stored credentials, delete the device in the Xyte portal, or give its id, accessKey and mqttHubUrl in the config; ';
    case 'unauthorized':
      return 'check cloud.registration.hardwareKey; ';
    case 'invalid':
      return 'check cloud.registration (sn, firmwareVersion, mac or cloudId); ';
    default:
      return '';
  }
}

function formatDelay(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
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
