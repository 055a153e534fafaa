// Waylay (waylay.io): a tenant's MQTT broker with static per-device credentials and two
// generations of topics (Waylay documentation: "Broker and Storage", "MQTT Broker Manager").
// Readings go as JSON arrays of
// {"resource", "timestamp", "<metric>": value}; commands come as JSON on the commands topic and
// their results go back as events (see waylay/commands.ts).
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { duration, secret, size } from '../../config/primitives.ts';
import type { AdapterDefinition, CloudAdapter, ConnectOptions, TelemetryRecord } from '../adapter.ts';
import { packJsonArrays } from '../batching.ts';
import { cloudCommonFields } from '../link-config.ts';
import { readTls } from '../tls-files.ts';
import { decodeWaylayCommands, encodeWaylayResult, type WaylayCommandContext, type WaylayReplyTo } from './waylay/commands.ts';

/** Waylay's brokers take payloads up to 128 KB (Waylay documentation, "MQTT Broker Manager"). */
export const WAYLAY_MAX_MESSAGE_BYTES = 128 * 1024;

// Ids and domains become topic levels: no separators, wildcards or blanks.
// eslint-disable-next-line no-control-regex -- control characters are exactly what must be kept out of a topic
const topicLevel = /^[^/+#\s\u0000-\u001f]+$/;
const fieldList = (defaults: string[], what: string) =>
  z
    .array(z.string().min(1))
    .min(1)
    .default(defaults)
    .meta({ description: `JSON fields holding ${what}, tried in order. Default: ${defaults.map((f) => `"${f}"`).join(', ')}.` });

const configSchema = z
  .strictObject({
    provider: z.literal('waylay'),
    ...cloudCommonFields,
    url: z
      .url({ protocol: /^(mqtts?|wss?)$/, error: 'expected the Waylay broker URL such as "mqtts://broker.example.waylay.io" (mqtts, mqtt, wss or ws); there is no single public host, take it from your tenant' })
      .meta({ description: 'Your tenant’s Waylay broker. Without a port, mqtts:// uses 8883 and mqtt:// 1883; use mqtts (TLS).' }),
    resourceId: z.string().min(1).max(256).regex(topicLevel, 'expected a resource id without "/", "+", "#" or spaces').meta({ description: 'The Waylay resource (device) id; appears in topics and in every event.' }),
    username: z.string().min(1).meta({ description: 'Device username from Device Hub or the Broker Manager.' }),
    password: secret().meta({ description: 'Device password from Device Hub or the Broker Manager.' }),
    clientId: z.string().min(1).max(256).optional().meta({ description: 'MQTT client id. Default: the resource id (the legacy broker used only its first 22 characters).' }),
    topics: z
      .enum(['resources', 'broker-manager'], { error: 'expected "resources" ({domain}/resources/{resourceId}/events) or "broker-manager" (waylay/{resourceId}/data)' })
      .default('resources')
      .meta({ description: '"resources": publish {domain}/resources/{resourceId}/events, subscribe .../commands (needs "domain"). "broker-manager": publish waylay/{resourceId}/data, subscribe waylay/{resourceId}/commands.' }),
    domain: z.string().min(1).max(253).regex(topicLevel, 'expected a domain such as "app.waylay.io", without "/", "+", "#" or spaces').optional().meta({ description: 'Your Waylay domain, e.g. "app.waylay.io"; required with topics "resources".' }),
    keepalive: duration({ min: '10s', max: '18h' }).prefault('60s').meta({ description: 'MQTT keepalive: how long a silent link may stay before it is declared dead.' }),
    metricNames: z
      .string()
      .min(1)
      .regex(/\{field\}/, 'expected a template containing "{field}", such as "{sensor}.{field}"')
      .default('{sensor}.{field}')
      .meta({ description: 'Name of each time series: {sensor} and {field} are filled in. Default "{sensor}.{field}".' }),
    commandFields: z
      .strictObject({
        name: fieldList(['command', 'action'], 'the command name'),
        args: fieldList(['args'], 'the command arguments (when none is present, the other top-level fields are the arguments)'),
        id: fieldList(['id', 'commandId'], 'the command id echoed as "commandId" in the result event'),
      })
      .prefault({})
      .meta({ description: 'Where commands carry their name, arguments and id.' }),
    maxMessageBytes: size({ min: '1KB', max: '128KB' }).prefault('128KB').meta({ description: 'Largest message sent; Waylay accepts at most 128KB.' }),
  })
  .superRefine((config, ctx) => {
    if (config.topics === 'resources' && config.domain === undefined) {
      ctx.addIssue({ code: 'custom', path: ['domain'], message: 'expected "domain" (e.g. "app.waylay.io") with topics "resources": events go to {domain}/resources/{resourceId}/events' });
    }
    if (config.topics === 'broker-manager' && config.domain !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['domain'], message: 'expected no "domain" with topics "broker-manager" (its topics are waylay/{resourceId}/...): remove it, or set topics to "resources"' });
    }
  })
  .meta({ title: 'Waylay' });

export type WaylayConfig = z.output<typeof configSchema>;

export interface WaylayTopics {
  events: string;
  commands: string;
}

export function waylayTopics(config: Pick<WaylayConfig, 'topics' | 'domain' | 'resourceId'>): WaylayTopics {
  if (config.topics === 'broker-manager') return { events: `waylay/${config.resourceId}/data`, commands: `waylay/${config.resourceId}/commands` };
  const base = `${config.domain ?? ''}/resources/${config.resourceId}`;
  return { events: `${base}/events`, commands: `${base}/commands` };
}

/** The documented ports when the URL gives none: 8883 for TLS, 1883 plain (Waylay documentation, MQTT feature page). */
export function withDefaultPort(url: string): string {
  const parsed = new URL(url);
  if (parsed.port !== '') return url;
  const port = { 'mqtts:': '8883', 'mqtt:': '1883' }[parsed.protocol];
  if (port === undefined) return url;
  parsed.port = port;
  return parsed.toString().replace(/\/$/, '');
}

const RESERVED_KEYS = new Set(['resource', 'timestamp']);

/**
 * One event object per reading: {"resource": "<id>", "timestamp": <ms>, "<sensor>.<field>": value, ...}.
 * Readings are not merged even when their timestamps match: each stays separately measurable
 * against the 128 KB limit, and two readings of one sensor in the same millisecond cannot
 * overwrite each other. Waylay stores each scalar as a point of its series either way.
 * A reading taken before the clock was set goes without "timestamp": Waylay then uses arrival
 * time, closer to the truth than a 1970 date. Null and non-finite values are left out (no measurement).
 */
export function toWaylayEvent(record: TelemetryRecord, resourceId: string, metricNames: string): Record<string, string | number | boolean> {
  const event: Record<string, string | number | boolean> = { resource: resourceId };
  if (!record.clockUnsynced) event.timestamp = record.ts;
  for (const [field, value] of Object.entries(record.values)) {
    if (value === null || (typeof value === 'number' && !Number.isFinite(value))) continue;
    let metric = metricNames.replaceAll('{sensor}', record.sensorId).replaceAll('{field}', field);
    // A field named like an envelope key would overwrite it: keep it under its sensor's name.
    if (RESERVED_KEYS.has(metric)) metric = `${record.sensorId}.${field}`;
    event[metric] = value;
  }
  return event;
}

export const waylayAdapter: AdapterDefinition<typeof configSchema> = {
  provider: 'waylay',
  configSchema,
  linkFacts: (config) => ({ url: withDefaultPort(config.url), credentials: 'the device password', verifyCertificates: config.tls?.rejectUnauthorized ?? true }),
  create(config, ctx): CloudAdapter<WaylayReplyTo> {
    const topics = waylayTopics(config);
    const url = withDefaultPort(config.url);
    const commandContext: WaylayCommandContext = {
      resourceId: config.resourceId,
      eventsTopic: topics.events,
      fields: config.commandFields,
      maxMessageBytes: config.maxMessageBytes,
      timestamp: () => (ctx.clockSynchronized() ? ctx.now() : undefined),
      localId: () => `waylay-${randomUUID()}`,
    };
    let rejectionLogged = false;
    return {
      provider: 'waylay',
      maxMessageBytes: config.maxMessageBytes,
      // As for generic MQTT: under the 100 ms commit, and readings taken together share an array.
      defaultLingerMs: 50,
      connectOptions(): Promise<ConnectOptions> {
        return Promise.resolve({
          url,
          clientId: config.clientId ?? config.resourceId,
          username: config.username,
          password: config.password.reveal(),
          protocolVersion: 4,
          keepaliveSeconds: Math.round(config.keepalive / 1000),
          // Waylay does not document sessions; asking for one is harmless on a broker that keeps none.
          persistentSession: true,
          ...(config.tls ? { tls: readTls(config.tls) } : {}),
        });
      },
      subscriptions: () => [topics.commands],
      onConnected() {
        rejectionLogged = false;
        return [];
      },
      encodeTelemetry: (records) => packJsonArrays(records, (record) => toWaylayEvent(record, config.resourceId, config.metricNames), config.maxMessageBytes, () => topics.events),
      decodeIncoming(message) {
        if (message.topic !== topics.commands) {
          return [{ kind: 'notice', level: 'warn', event: 'waylay-unexpected-topic', message: `ignored a message on ${message.topic}: only ${topics.commands} carries commands`, fields: { topic: message.topic } }];
        }
        return decodeWaylayCommands(message.payload, commandContext);
      },
      encodeReply: (command, result) => encodeWaylayResult(command, result, commandContext),
      onAuthRejected() {
        // Waylay credentials are static: nothing to renew. Say once per outage what to check.
        if (!rejectionLogged) {
          rejectionLogged = true;
          ctx.log.error(
            { event: 'waylay-credentials-refused', username: config.username, clientId: config.clientId ?? config.resourceId, resourceId: config.resourceId },
            `Waylay refused username "${config.username}" for resource "${config.resourceId}": check cloud.username and cloud.password against the device's credentials in Waylay Device Hub / Broker Manager (and that the client id is the resource id). Retrying with backoff.`,
          );
        }
        return Promise.resolve();
      },
    };
  },
};
