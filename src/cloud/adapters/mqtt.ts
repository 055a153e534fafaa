// Any MQTT broker: Mosquitto, EMQX, HiveMQ, a plant's own. Also the quick-start demo's target.
import { z } from 'zod';
import { secret } from '../../config/primitives.ts';
import type { AdapterDefinition, CloudAdapter, ConnectOptions, IncomingAction, TelemetryRecord } from '../adapter.ts';
import { packJsonArrays } from '../batching.ts';
import { cloudCommonFields } from '../link-config.ts';
import { readTls } from '../tls-files.ts';
import { COMPACT_CONTENT_TYPE, encodeCompact } from './mqtt/compact.ts';
import { decodeCommandJson, encodeCommandReply, type ReplyAddress } from './mqtt-commands.ts';

const configSchema = z
  .strictObject({
    provider: z.literal('mqtt'),
    ...cloudCommonFields,
    url: z
      .url({ protocol: /^(mqtts?|wss?)$/, error: 'expected a broker URL such as "mqtts://broker.example.com:8883" (mqtt, mqtts, ws or wss)' })
      .meta({ description: 'Broker URL: mqtt://, mqtts://, ws:// or wss://, with port and (for WebSockets) path.' }),
    protocolVersion: z.union([z.literal(4), z.literal(5)]).default(4).meta({ description: '4 for MQTT 3.1.1, 5 for MQTT 5.' }),
    clientId: z.string().min(1).max(128).optional().meta({ description: 'Default: the agent id.' }),
    username: z.string().min(1).optional(),
    password: secret().optional(),
    keepalive: z.int().min(5).max(65535).default(60).meta({ description: 'Keepalive in seconds.' }),
    persistentSession: z
      .boolean()
      .default(true)
      .meta({ description: 'Ask the broker to keep commands sent while the link is down (3.1.1 clean session off; MQTT 5 session expiry = commands.maxAge). Needs a stable clientId.' }),
    topics: z
      .strictObject({
        telemetry: z.string().min(1).default('edge-agent/{agentId}/telemetry/{sensorId}').meta({ description: 'Where readings go; {agentId} and {sensorId} are filled in.' }),
        commands: z.string().min(1).default('edge-agent/{agentId}/commands').meta({ description: 'Subscribed for commands.' }),
        replies: z.string().min(1).default('edge-agent/{agentId}/replies').meta({ description: 'Where command results go (MQTT 5: the request’s response topic wins).' }),
        compact: z.string().min(1).default('edge-agent/{agentId}/compact').meta({ description: 'With "encoding": "compact": where batches of readings of all sensors go; {agentId} is filled in.' }),
      })
      .default({ telemetry: 'edge-agent/{agentId}/telemetry/{sensorId}', commands: 'edge-agent/{agentId}/commands', replies: 'edge-agent/{agentId}/replies', compact: 'edge-agent/{agentId}/compact' }),
    encoding: z
      .enum(['json', 'compact'])
      .default('json')
      .meta({
        description:
          '"json": a JSON array of readings per message on each sensor\'s telemetry topic (readable by anything). "compact": readings of all sensors in one deflated, columnar message on topics.compact, a fifth of the bytes or less (format and decoders in the README).',
      }),
    maxMessageBytes: z.int().min(1024).max(256 * 1024 * 1024).default(256 * 1024).meta({ description: 'Largest payload the broker accepts.' }),
  })
  .meta({ title: 'Generic MQTT broker' });

export type MqttCloudConfig = z.output<typeof configSchema>;

/**
 * Payload: a JSON array of readings, each
 * `{"id": "<agent>-<epoch>-<seq>", "seq": 42, "sensor": "t1", "ts": 1700000000000, "values": {"temperature": 21.5}}`
 * (plus `"clockUnsynced": true` when the gateway clock was not yet set). `id` is stable across redeliveries.
 */
export function toGenericItem(record: TelemetryRecord) {
  return record.clockUnsynced
    ? { id: record.id, seq: record.seq, sensor: record.sensorId, ts: record.ts, values: record.values, clockUnsynced: true }
    : { id: record.id, seq: record.seq, sensor: record.sensorId, ts: record.ts, values: record.values };
}

/** toGenericItem as JSON text, with the stored values spliced in when the outbox has them: the drain's hot path. */
export function genericItemJson(record: TelemetryRecord): string {
  if (record.valuesJson === undefined) return JSON.stringify(toGenericItem(record));
  return `{"id":${JSON.stringify(record.id)},"seq":${record.seq},"sensor":${JSON.stringify(record.sensorId)},"ts":${record.ts},"values":${record.valuesJson}${record.clockUnsynced ? ',"clockUnsynced":true' : ''}}`;
}

export const mqttAdapter: AdapterDefinition<typeof configSchema> = {
  provider: 'mqtt',
  configSchema,
  linkFacts: (config) => ({ url: config.url, credentials: config.password ? 'the password' : undefined, verifyCertificates: config.tls?.rejectUnauthorized ?? true }),
  create(config, ctx): CloudAdapter<ReplyAddress> {
    const fill = (template: string, sensorId = '') => template.replaceAll('{agentId}', ctx.agentId).replaceAll('{sensorId}', sensorId);
    const telemetryTopics = new Map<string, string>();
    const telemetryTopic = (sensorId: string) => {
      let topic = telemetryTopics.get(sensorId);
      if (topic === undefined) telemetryTopics.set(sensorId, (topic = fill(config.topics.telemetry, sensorId)));
      return topic;
    };
    const commandsTopic = fill(config.topics.commands);
    const repliesTopic = fill(config.topics.replies);
    const compactTopic = fill(config.topics.compact);
    // MQTT 5 says what the bytes are; on 3.1.1 the topic does (properties are dropped there).
    const compactProperties = { contentType: COMPACT_CONTENT_TYPE, userProperties: { 'content-encoding': 'deflate' } };
    return {
      provider: 'mqtt',
      maxMessageBytes: config.maxMessageBytes,
      // Under the outbox's 100 ms commit: on a live link a reading is acknowledged before it would be
      // written (no flash wear), and readings taken together (a Modbus sweep, sensors on one tick) share a message.
      defaultLingerMs: 50,
      connectOptions(): Promise<ConnectOptions> {
        return Promise.resolve({
          url: config.url,
          clientId: config.clientId ?? ctx.agentId,
          ...(config.username ? { username: config.username } : {}),
          ...(config.password ? { password: config.password.reveal() } : {}),
          protocolVersion: config.protocolVersion,
          keepaliveSeconds: config.keepalive,
          persistentSession: config.persistentSession,
          ...(config.tls ? { tls: readTls(config.tls) } : {}),
        });
      },
      subscriptions: () => [commandsTopic],
      encodeTelemetry: (records) =>
        config.encoding === 'compact'
          ? encodeCompact(records, compactTopic, config.maxMessageBytes, compactProperties)
          : packJsonArrays(records, genericItemJson, config.maxMessageBytes, (record) => telemetryTopic(record.sensorId)),
      decodeIncoming(message): IncomingAction<ReplyAddress>[] {
        if (message.topic !== commandsTopic) return [];
        return decodeCommandJson(message, 'mqtt', repliesTopic);
      },
      encodeReply: (command, result) => encodeCommandReply(command, result),
    };
  },
};
