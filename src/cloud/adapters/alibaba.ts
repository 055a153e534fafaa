// Alibaba Cloud IoT Platform: signed CONNECT, Alink property posts, service calls, property set and
// RRPC. Sources: alibabacloud.com help "Establish MQTT connections over TCP" (doc 73742), "Alink
// protocol" (doc 89301), "Dynamic registration" (doc 132111, in alibaba/credentials.ts).
import { z } from 'zod';
import { secret } from '../../config/primitives.ts';
import { COMMAND_LIMITS } from '../../commands/command.ts';
import type { AdapterDefinition, CloudAdapter, ConnectOptions, EncodedTelemetry, IncomingAction, TelemetryRecord } from '../adapter.ts';
import { ClockNotSynchronizedError, CredentialsUnavailableError } from '../errors.ts';
import { cloudCommonFields } from '../link-config.ts';
import { parseBoundedJson } from '../bounded-json.ts';
import type { OutgoingMessage } from '../message.ts';
import { readTls } from '../tls-files.ts';
import { alinkReply, commandNameOf, parseAlinkRequest, propertyBatchPosts, propertyPost } from './alibaba/alink.ts';
import { brokerUrl } from './alibaba/broker-url.ts';
import { alibabaCredentials } from './alibaba/credentials.ts';
import { mqttClientId, signPassword } from './alibaba/sign.ts';

const MAX_MESSAGE_BYTES = 256 * 1024;
/** Readings older than this go as history posts when enabled (the platform takes timestamps within 24 h on live posts). */
const HISTORY_AFTER_MS = 60 * 60_000;

const configSchema = z
  .strictObject({
    provider: z.literal('alibaba'),
    ...cloudCommonFields,
    productKey: z.string().regex(/^[A-Za-z0-9]{1,32}$/, 'expected the product key from the console, e.g. "a1B2c3D4e5F"'),
    deviceName: z.string().regex(/^[A-Za-z0-9_.:@-]{1,64}$/, 'expected the device name from the console'),
    deviceSecret: secret().optional().meta({ description: 'The device secret ("one secret per device"). Or give productSecret.' }),
    productSecret: secret().optional().meta({ description: '"One secret per product": the agent registers the device once over HTTPS and keeps the device secret in the data dir (mode 0600).' }),
    registrationUrl: z.url({ protocol: /^https$/ }).optional().meta({ description: 'Default: https://iot-auth.{regionId}.aliyuncs.com/auth/register/device' }),
    regionId: z.string().regex(/^[a-z]+-[a-z0-9-]+$/, 'expected a region such as "cn-shanghai"').optional(),
    endpoint: z.string().regex(/^[A-Za-z0-9.-]+$/, 'expected the instance endpoint host from the console').optional(),
    transport: z.enum(['tls', 'tcp', 'wss', 'ws']).default('tls').meta({ description: '"tls" (default), "tcp" (refused for new accounts since 2022), "wss" or "ws".' }),
    signMethod: z.enum(['hmacsha256', 'hmacsha1', 'hmacmd5']).default('hmacsha256'),
    keepalive: z.int().min(30).max(1200).default(300).meta({ description: 'Seconds; the platform refuses anything outside 30-1200.' }),
    historyPost: z.boolean().default(false).meta({ description: 'Send readings delayed by an outage (older than 1 h) as history posts.' }),
    batchPost: z
      .boolean()
      .default(true)
      .meta({ description: 'Send many readings, each with its own time, in one thing.event.property.batch.post (billed as one message). false: one thing.event.property.post per reading.' }),
  })
  .superRefine((c, ctx) => {
    if (!c.deviceSecret && !c.productSecret) ctx.addIssue({ code: 'custom', path: ['deviceSecret'], message: 'expected "deviceSecret", or "productSecret" for dynamic registration' });
    if (!c.url && !c.regionId && !c.endpoint) ctx.addIssue({ code: 'custom', path: ['regionId'], message: 'expected "regionId" (public instance) or "endpoint" (enterprise instance)' });
  })
  .meta({ title: 'Alibaba Cloud IoT Platform' });

export type AlibabaConfig = z.output<typeof configSchema>;

type AlibabaReplyTo = { topic: string; id: string };

export const alibabaAdapter: AdapterDefinition<typeof configSchema, string> = {
  provider: 'alibaba',
  configSchema,
  credentials: alibabaCredentials,
  linkFacts: (config) => ({
    url: brokerUrl(config),
    // The password is an HMAC of the device secret, but one seen in clear can be replayed to connect as the device.
    credentials: 'the signed password',
    verifyCertificates: config.tls?.rejectUnauthorized ?? true,
    ...(config.url === undefined ? { encryptHint: 'set cloud.transport to "tls" (or "wss")' } : {}),
  }),
  create(config, ctx, held): CloudAdapter<AlibabaReplyTo> {
    const { productKey: pk, deviceName: dn } = config;
    const base = `/sys/${pk}/${dn}`;
    const secure = config.transport === 'tls' || config.transport === 'wss';

    const commandFrom = (request: ReturnType<typeof parseAlinkRequest>, name: string, replyTopic: string): IncomingAction<AlibabaReplyTo>[] => {
      if ('error' in request) {
        return [{ kind: 'reply', reason: request.error, messages: request.id ? [{ topic: replyTopic, payload: alinkReply(request.id, 400, {}, request.error), qos: 0 }] : [] }];
      }
      const replyTo: AlibabaReplyTo = { topic: replyTopic, id: request.id };
      // The name comes from the topic or "method": one no thing model could define is answered, not run.
      if (name === '' || name.length > COMMAND_LIMITS.nameChars) {
        const error = `expected a service identifier of 1 to ${COMMAND_LIMITS.nameChars} characters`;
        return [{ kind: 'reply', reason: error, messages: [{ topic: replyTopic, payload: alinkReply(request.id, 400, {}, error), qos: 0 }] }];
      }
      return [{ kind: 'command', command: { id: request.id, name, params: request.params, origin: 'alibaba', replyTo } }];
    };

    const signedOptions = (): ConnectOptions => {
      // The timestamp is signed; some instances reject one far from their clock.
      if (!ctx.clockSynchronized()) throw new ClockNotSynchronizedError(ctx.now());
      // The device secret: from the config, the device store or a registration (alibaba/credentials.ts, run by the seam).
      const deviceSecret = held?.current();
      if (deviceSecret === undefined) throw new CredentialsUnavailableError('no Alibaba device secret yet: create the adapter through the registry (adapters/index.ts), which registers the device', 0);
      const timestamp = String(ctx.now());
      const id = `${pk}.${dn}`;
      return {
        url: brokerUrl(config),
        clientId: mqttClientId(id, secure ? 2 : 3, config.signMethod, timestamp),
        username: `${dn}&${pk}`,
        password: signPassword(config.signMethod, deviceSecret, { clientId: id, deviceName: dn, productKey: pk, timestamp }),
        protocolVersion: 4,
        keepaliveSeconds: config.keepalive,
        // cleanSession=0 (MQTT 3.1.1 §3.1.2.4): QoS 1 downlinks sent during a blip are kept for the device;
        // RRPC calls are synchronous and fail fast while offline.
        persistentSession: true,
        ...(config.tls ? { tls: readTls(config.tls) } : {}),
      };
    };

    return {
      provider: 'alibaba',
      maxMessageBytes: MAX_MESSAGE_BYTES,
      // Billed per message: a second of readings in one batch post.
      defaultLingerMs: 1000,
      connectOptions(): Promise<ConnectOptions> {
        // Pure: signs with the secret it was handed; a throw in signedOptions becomes the rejection.
        return new Promise((resolve) => resolve(signedOptions()));
      },
      subscriptions: () => [`${base}/thing/event/property/post_reply`, `${base}/thing/event/property/history/post_reply`, `${base}/thing/event/property/batch/post_reply`, `${base}/thing/service/#`, `${base}/rrpc/request/+`],
      encodeTelemetry(records): EncodedTelemetry {
        const messages: OutgoingMessage[] = [];
        const rejected: EncodedTelemetry['rejected'] = [];
        const now = ctx.now();
        const live: TelemetryRecord[] = [];
        for (const record of records) {
          const history = config.historyPost && now - record.ts > HISTORY_AFTER_MS;
          if (config.batchPost && !history) {
            live.push(record);
            continue;
          }
          // One post per reading: params are keyed by property, so two readings of one sensor cannot share a post.
          const payload = propertyPost(record, history ? 'thing.event.property.history.post' : 'thing.event.property.post');
          if (Buffer.byteLength(payload) > MAX_MESSAGE_BYTES) rejected.push({ record, reason: `reading is ${Buffer.byteLength(payload)} bytes, over the 256 KB limit` });
          else messages.push({ topic: `${base}/thing/event/property/${history ? 'history/' : ''}post`, payload, qos: 1 });
        }
        const batches = propertyBatchPosts(live, MAX_MESSAGE_BYTES);
        for (const payload of batches.payloads) messages.push({ topic: `${base}/thing/event/property/batch/post`, payload, qos: 1 });
        rejected.push(...batches.rejected);
        return { messages, rejected };
      },
      decodeIncoming(message): IncomingAction<AlibabaReplyTo>[] {
        const topic = message.topic;
        if (topic.endsWith('/post_reply')) {
          const reply = parseAlinkRequest(message.payload) as { id?: string };
          const body = safeJson(message.payload) as { code?: number; message?: string } | undefined;
          if (body?.code === 200) return [];
          return [{ kind: 'notice', level: 'warn', event: 'alibaba-post-refused', message: `the platform refused property post ${reply.id ?? '?'}: code ${body?.code ?? '?'} ${body?.message ?? ''}`.trim(), fields: { code: body?.code } }];
        }
        const rrpc = topic.startsWith(`${base}/rrpc/request/`) ? topic.slice(`${base}/rrpc/request/`.length) : undefined;
        if (rrpc !== undefined) {
          const request = parseAlinkRequest(message.payload);
          const method = 'error' in request ? '' : (request.method ?? '');
          return commandFrom(request, commandNameOf(method.replace(/^thing\.service\./, '')), `${base}/rrpc/response/${rrpc}`);
        }
        if (topic === `${base}/thing/service/property/set`) return commandFrom(parseAlinkRequest(message.payload), 'property.set', `${topic}_reply`);
        if (topic.startsWith(`${base}/thing/service/`) && !topic.endsWith('_reply')) {
          const identifier = topic.slice(`${base}/thing/service/`.length);
          return commandFrom(parseAlinkRequest(message.payload), commandNameOf(identifier), `${topic}_reply`);
        }
        return [];
      },
      encodeReply(command, result): OutgoingMessage[] {
        const replyTo = command.replyTo;
        return [{ topic: replyTo.topic, payload: alinkReply(replyTo.id, result.ok ? 200 : result.status, result.ok ? result.data : (result.data ?? {}), result.ok ? undefined : result.message), qos: 0 }];
      },
    };
  },
};

/** The payload as JSON, or undefined when it is not JSON or too large or deep to parse (bounded-json.ts). */
function safeJson(payload: Buffer): unknown {
  const parsed = parseBoundedJson(payload);
  return parsed.ok ? parsed.value : undefined;
}
