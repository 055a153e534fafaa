// An Alibaba Cloud IoT Platform instance for tests: aedes over tcp, tls or ws, enforcing what the
// platform's docs say it enforces (CONNECT, signing and keepalive:
// https://www.alibabacloud.com/help/doc-detail/73742.htm; no QoS 2, retain or will:
// https://www.alibabacloud.com/help/doc-detail/30540.htm; Alink JSON and topics:
// https://www.alibabacloud.com/help/doc-detail/89301.htm). It parses the clientId, checks securemode
// against the transport, recomputes the signature with the advertised method, enforces keepalive
// 30-1200 s, refuses QoS 2, retain and will, confines topics to the device, checks the Alink shape,
// and can invoke services, property sets and RRPC.
import { createServer as createHttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { createWebSocketStream, WebSocketServer } from 'ws';
import { parseClientId, signPassword, type SignMethod } from '../../../src/cloud/adapters/alibaba/sign.ts';
import { emulatorEvents } from '../emulator-events.ts';

export type AlibabaTransport = 'tcp' | 'tls' | 'ws';

export interface AlibabaDevice {
  productKey: string;
  deviceName: string;
  deviceSecret: string;
}

export interface AlibabaEmulator {
  url: string;
  /** Property posts received, with their Alink ids and params. */
  posts: { id: string; params: Record<string, { value: unknown; time: number }> }[];
  /** Batch posts (thing.event.property.batch.post) received, each as the readings it carried. */
  batches: { id: string; readings: Record<string, { value: unknown; time: number }>[] }[];
  violations: { rule: string; detail: string }[];
  refusals: string[];
  connections: { clientId: string; signMethod: string }[];
  callService(device: AlibabaDevice, identifier: string, params: unknown): Promise<{ id: string; code: number; data: unknown; message?: string }>;
  setProperty(device: AlibabaDevice, params: unknown): Promise<{ id: string; code: number; data: unknown; message?: string }>;
  rrpc(device: AlibabaDevice, method: string, params: unknown): Promise<{ id: string; code: number; data: unknown; message?: string }>;
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

/** A device may use its own /sys, /shadow, /ext and /{pk}/{dn}/user topics (the platform's default permissions). */
function ownTopic(topic: string, device: AlibabaDevice): boolean {
  const { productKey: pk, deviceName: dn } = device;
  return topic.startsWith(`/sys/${pk}/${dn}/`) || topic.startsWith(`/${pk}/${dn}/user/`) || topic === `/shadow/get/${pk}/${dn}` || topic === `/shadow/update/${pk}/${dn}` || topic.startsWith(`/ext/session/${pk}/${dn}/`) || topic.startsWith(`/ext/ntp/${pk}/${dn}/`);
}

const refusal = (message: string, returnCode: AuthenticateError['returnCode']): AuthenticateError => Object.assign(new Error(message), { returnCode });

export async function startAlibabaEmulator(options: { transport: AlibabaTransport; devices: AlibabaDevice[]; tls?: { cert: Buffer; key: Buffer } }): Promise<AlibabaEmulator> {
  const expectedMode = options.transport === 'tls' ? '2' : '3';
  const deviceOf = new WeakMap<Client, AlibabaDevice>();
  const posts: AlibabaEmulator['posts'] = [];
  const batches: AlibabaEmulator['batches'] = [];
  const batchIds = new Map<string, string>();
  const violations: AlibabaEmulator['violations'] = [];
  const refusals: string[] = [];
  const connections: AlibabaEmulator['connections'] = [];
  const pending = new Map<string, (reply: { id: string; code: number; data: unknown; message?: string }) => void>();
  const events = emulatorEvents(() => `violations ${JSON.stringify(violations)}; refusals ${JSON.stringify(refusals)}`);
  let nextId = 1000;

  const broker = await Aedes.createBroker({
    preConnect(_client, packet, callback) {
      const connect = packet as { keepalive?: number; will?: unknown };
      if (connect.keepalive === undefined || connect.keepalive < 30 || connect.keepalive > 1200) {
        refusals.push(`keepalive ${connect.keepalive} outside 30-1200`);
        return callback(null, false);
      }
      if (connect.will) {
        refusals.push('a will message');
        return callback(null, false);
      }
      callback(null, true);
    },
    authenticate(client, username, password, done) {
      const refuse = (reason: string, code: AuthenticateError['returnCode']) => {
        refusals.push(reason);
        done(refusal(reason, code), false);
      };
      const parsed = parseClientId(client.id);
      if (!parsed) return refuse(`clientId ${client.id} is not {id}|k=v,...|`, 2);
      const device = options.devices.find((d) => username === `${d.deviceName}&${d.productKey}`);
      if (!device) return refuse(`unknown username ${username ?? '(none)'}`, 4);
      if (parsed.params.securemode !== expectedMode) return refuse(`securemode ${parsed.params.securemode} over ${options.transport} (expected ${expectedMode})`, 5);
      const method = parsed.params.signmethod as SignMethod;
      if (!['hmacsha256', 'hmacsha1', 'hmacmd5'].includes(method)) return refuse(`signmethod ${method}`, 5);
      const expected = signPassword(method, device.deviceSecret, { clientId: parsed.id, deviceName: device.deviceName, productKey: device.productKey, ...(parsed.params.timestamp ? { timestamp: parsed.params.timestamp } : {}) });
      if (password?.toString('utf8').toLowerCase() !== expected) return refuse('signature does not match the device secret', 4);
      deviceOf.set(client, device);
      connections.push({ clientId: client.id, signMethod: method });
      done(null, true);
    },
    authorizeSubscribe(client, subscription, callback) {
      const device = deviceOf.get(client)!;
      if (!ownTopic(subscription.topic, device)) {
        violations.push({ rule: 'subscribe', detail: subscription.topic });
        return callback(null, null);
      }
      if (subscription.qos === 2) subscription.qos = 1;
      callback(null, subscription);
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null);
      const device = deviceOf.get(client)!;
      const base = `/sys/${device.productKey}/${device.deviceName}`;
      const fail = (rule: string, detail: string) => {
        violations.push({ rule, detail });
        callback(new Error(detail));
      };
      if (packet.qos === 2) return fail('qos', `QoS 2 on ${packet.topic}`);
      if (packet.retain) return fail('retain', `retained publish on ${packet.topic}`);
      if (!packet.topic.startsWith(`${base}/`)) return fail('topic', `${packet.topic} is outside ${base}/`);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(packet.payload.toString()) as Record<string, unknown>;
      } catch {
        return fail('alink', `not JSON on ${packet.topic}`);
      }
      if (packet.topic === `${base}/thing/event/property/post` || packet.topic === `${base}/thing/event/property/history/post`) {
        // The docs say a decimal id; the official SDK sends "1|exp-topic|…" and the platform takes it.
        if (typeof body.id !== 'string' || typeof body.version !== 'string' || typeof body.method !== 'string' || typeof body.params !== 'object') return fail('alink', `bad property post ${JSON.stringify(body).slice(0, 200)}`);
        posts.push({ id: body.id, params: body.params as never });
        const id = body.id;
        setImmediate(() => void publish(`${packet.topic}_reply`, { id, code: 200, data: {} }));
      } else if (packet.topic === `${base}/thing/event/property/batch/post`) {
        const problem = batchPostProblem(body, Date.now());
        if (problem) return fail('alink-batch', problem);
        const id = body.id as string;
        const payload = packet.payload.toString();
        // Alink ids are unique per device per day: the same id again must be the same request (a redelivery).
        const earlier = batchIds.get(id);
        if (earlier !== undefined && earlier !== payload) return fail('alink-id', `batch post id ${id} reused for a different request`);
        batchIds.set(id, payload);
        batches.push({ id, readings: flattenBatch(body) });
        // One post per timestamp, as a per-reading post would have said it: the tests read readings the same way whatever the encoding.
        for (const params of flattenBatch(body)) posts.push({ id, params });
        setImmediate(() => void publish(`${packet.topic}_reply`, { id, code: 200, data: {} }));
      } else if (/\/thing\/service\/.+_reply$/.test(packet.topic) || packet.topic.startsWith(`${base}/rrpc/response/`)) {
        const waiter = typeof body.id === 'string' ? pending.get(body.id) : undefined;
        if (!waiter || typeof body.code !== 'number') return fail('alink', `reply ${JSON.stringify(body).slice(0, 200)} echoes no pending id`);
        pending.delete(body.id as string);
        waiter(body as never);
      } else {
        return fail('topic', `undocumented topic ${packet.topic}`);
      }
      callback(null);
      events.notify();
    },
  });

  const publish = (topic: string, body: unknown) =>
    new Promise<void>((resolve, reject) => broker.publish({ cmd: 'publish', topic, payload: Buffer.from(JSON.stringify(body)), qos: 0, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())));

  const request = async (topic: string, body: Record<string, unknown>, id: string) => {
    const reply = new Promise<{ id: string; code: number; data: unknown; message?: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${topic} within 5 s`)), 5000);
      pending.set(id, (r) => (clearTimeout(timer), resolve(r)));
    });
    await publish(topic, body);
    return reply;
  };

  let server: Server | ReturnType<typeof createHttpServer>;
  if (options.transport === 'ws') {
    const http = createHttpServer();
    const wss = new WebSocketServer({ server: http });
    wss.on('connection', (socket) => broker.handle(createWebSocketStream(socket)));
    server = http;
  } else if (options.transport === 'tls') server = createTlsServer({ cert: options.tls!.cert, key: options.tls!.key }, broker.handle);
  else server = createTcpServer(broker.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const scheme = { tcp: 'mqtt', tls: 'mqtts', ws: 'ws' }[options.transport];

  return {
    url: `${scheme}://127.0.0.1:${port}${options.transport === 'ws' ? '/' : ''}`,
    posts,
    batches,
    violations,
    refusals,
    connections,
    callService: (d, identifier, params) => {
      const id = String(++nextId);
      return request(`/sys/${d.productKey}/${d.deviceName}/thing/service/${identifier}`, { id, version: '1.0.0', params, method: `thing.service.${identifier}` }, id);
    },
    setProperty: (d, params) => {
      const id = String(++nextId);
      return request(`/sys/${d.productKey}/${d.deviceName}/thing/service/property/set`, { id, version: '1.0.0', params, method: 'thing.service.property.set' }, id);
    },
    rrpc: (d, method, params) => {
      const id = String(++nextId);
      return request(`/sys/${d.productKey}/${d.deviceName}/rrpc/request/${Date.now()}${id}`, { id, version: '1.0.0', params, method: `thing.service.${method}` }, id);
    },
    waitFor: events.waitFor,
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** What is wrong with a thing.event.property.batch.post body, or undefined (help.aliyun.com, device batch report). */
export function batchPostProblem(body: Record<string, unknown>, now: number): string | undefined {
  if (typeof body.id !== 'string' || !/^\d{1,32}$/.test(body.id)) return `batch post id must be a decimal string, got ${JSON.stringify(body.id)}`;
  if (typeof body.version !== 'string') return 'batch post without "version"';
  if (body.method !== 'thing.event.property.batch.post') return `batch post method ${JSON.stringify(body.method)}`;
  const params = body.params as { properties?: unknown } | undefined;
  if (typeof params !== 'object' || params === null || typeof params.properties !== 'object' || params.properties === null || Array.isArray(params.properties)) return 'batch post without params.properties';
  const properties = params.properties as Record<string, unknown>;
  if (Object.keys(properties).length === 0) return 'batch post with no properties';
  for (const [name, values] of Object.entries(properties)) {
    if (!/^[A-Za-z0-9_]{1,50}$/.test(name)) return `property identifier ${JSON.stringify(name)}`;
    if (!Array.isArray(values) || values.length === 0) return `property ${name}: expected a non-empty array of {value, time}`;
    for (const item of values as unknown[]) {
      const v = item as { value?: unknown; time?: unknown };
      if (typeof item !== 'object' || item === null || !('value' in v) || typeof v.time !== 'number' || !Number.isInteger(v.time)) return `property ${name}: expected {value, time} with an integer time in ms, got ${JSON.stringify(item).slice(0, 100)}`;
      // Times more than 24 h away are refused by the platform (a gateway whose clock is unset sends 1970).
      if (v.time > 1e12 && Math.abs(now - v.time) > 24 * 3600_000 + 60_000) return `property ${name}: time ${v.time} is more than 24 h from now`;
    }
  }
  return undefined;
}

/** A batch's readings, one params object per distinct time. */
function flattenBatch(body: Record<string, unknown>): Record<string, { value: unknown; time: number }>[] {
  const byTime = new Map<number, Record<string, { value: unknown; time: number }>>();
  for (const [name, values] of Object.entries((body.params as { properties: Record<string, { value: unknown; time: number }[]> }).properties)) {
    for (const item of values) {
      let params = byTime.get(item.time);
      if (!params) byTime.set(item.time, (params = {}));
      params[name] = item;
    }
  }
  return [...byTime.values()];
}
