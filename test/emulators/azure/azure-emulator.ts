// An IoT Hub for tests: aedes over TLS enforcing what the hub's docs say it enforces
// (https://learn.microsoft.com/azure/iot/iot-mqtt-connect-to-iot-hub,
// https://learn.microsoft.com/azure/iot-hub/iot-hub-dev-guide-sas). TLS only, MQTT 3.1.1,
// clientId = deviceId, the username the hub requires, a SAS token recomputed from the device key
// with `sr` naming this device and `se` in the future, a disconnect at `se`, only the documented
// topics, at most 5 subscriptions, QoS 2 closes the link, 256 KB per message. It answers twin GETs,
// and tests can invoke direct methods and push desired properties. The same hub listens for MQTT
// over WebSockets too (`wssUrl`): TLS, only the path /$iothub/websocket, and only with the
// `mqtt` subprotocol, as the hub requires on port 443. Device identities can be added, replaced and
// revoked at run time (as DPS does when it assigns a device, or an operator disables one): a revoked
// device's live connection is closed at once and its later CONNECTs are refused. X.509 devices (over
// mqtts) present a client certificate from the CA in `tls.ca` whose CN is the device id, and no password.
import { TLSSocket } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { deviceResourceUri, parseSasToken, signSas } from '../../../src/cloud/adapters/azure/sas-token.ts';
import { emulatorEvents } from '../emulator-events.ts';
import { listenMqttEndpoints } from './mqtt-endpoints.ts';

/** A device identity: a symmetric key (SAS tokens), or X.509 (a client certificate from the test CA whose CN is the device id). */
export type AzureDevice = { deviceId: string; /** base64 device key */ key: string } | { deviceId: string; x509: true };

export interface AzureViolation {
  rule: string;
  clientId: string;
  detail: string;
}

export interface AzureEmulator {
  url: string;
  /** wss://127.0.0.1:<port>/$iothub/websocket */
  wssUrl: string;
  host: string;
  telemetry: { deviceId: string; topic: string; body: unknown }[];
  /** Telemetry as the hub's daily quota counts it: 4 KB blocks. */
  meteredBlocks(): number;
  reported: { deviceId: string; body: unknown }[];
  violations: AzureViolation[];
  /** Accepted connections, with the token expiry each one used. */
  connections: { deviceId: string; se: number; at: number }[];
  refusals: { clientId: string; reason: string }[];
  desired: Record<string, unknown>;
  invokeMethod(deviceId: string, method: string, payload: unknown, timeoutMs?: number): Promise<{ status: number; body: unknown }>;
  pushDesired(deviceId: string, patch: Record<string, unknown>): Promise<void>;
  /** Creates or replaces a device identity (a new key applies to the next CONNECT). */
  addDevice(device: AzureDevice): void;
  /** Revokes a device: its live connection is closed now, later CONNECTs are refused (CONNACK 5). */
  removeDevice(deviceId: string): void;
  deviceIds(): string[];
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

const MAX_BYTES = 256 * 1024;

function refusal(message: string, returnCode: AuthenticateError['returnCode']): AuthenticateError {
  return Object.assign(new Error(message), { returnCode });
}

export async function startAzureEmulator(options: { host: string; devices: AzureDevice[]; tls: { cert: Buffer; key: Buffer; ca?: Buffer }; now?: () => number }): Promise<AzureEmulator> {
  const now = options.now ?? Date.now;
  const devices = new Map(options.devices.map((d) => [d.deviceId, d]));
  const deviceOf = new WeakMap<Client, string>();
  /** The live connection of each device (clientId = deviceId, so aedes keeps at most one). */
  const liveClient = new Map<string, Client>();
  /** Distinct topic filters per connection: subscribing again to one (every reconnect of a persistent session does) is not another subscription. */
  const subscriptions = new WeakMap<Client, Set<string>>();
  const expiryTimers = new Set<NodeJS.Timeout>();
  const pendingMethods = new Map<string, (r: { status: number; body: unknown }) => void>();
  const methodTarget = new Map<string, string>();
  let rid = 0;
  let desiredVersion = 1;
  const emulator = {} as AzureEmulator;
  const violations: AzureViolation[] = [];
  const telemetry: AzureEmulator['telemetry'] = [];
  let meteredBlocks = 0;
  const reported: AzureEmulator['reported'] = [];
  const connections: AzureEmulator['connections'] = [];
  const refusals: AzureEmulator['refusals'] = [];
  const desired: Record<string, unknown> = {};
  const events = emulatorEvents(() => `violations: ${JSON.stringify(violations)}; refusals: ${JSON.stringify(refusals)}`);
  const notify = events.notify;

  /** The device each cloud-to-device payload is for (aedes forwards the same Buffer to every subscriber). */
  const recipientOf = new WeakMap<Buffer, string>();
  const broker = await Aedes.createBroker({
    authorizeForward(client, packet) {
      const recipient = recipientOf.get(packet.payload as Buffer);
      return recipient === undefined || deviceOf.get(client) === recipient ? packet : null;
    },
    authenticate(client, username, password, done) {
      const refuse = (reason: string, code: AuthenticateError['returnCode']) => {
        refusals.push({ clientId: client.id, reason });
        done(refusal(reason, code), false);
      };
      if (client.version !== 4) return refuse(`MQTT protocol level ${client.version}; the hub speaks 3.1.1 (level 4)`, 1);
      const device = devices.get(client.id);
      if (!device) return refuse(`unknown device ${client.id}`, 5);
      if (!username?.startsWith(`${options.host}/${device.deviceId}/?api-version=`)) return refuse(`username ${username ?? '(none)'} is not ${options.host}/${device.deviceId}/?api-version=…`, 5);
      if ('x509' in device) {
        // X.509 devices: the TLS client certificate is the credential (no password), its CN the device id.
        const socket = client.conn instanceof TLSSocket ? client.conn : undefined;
        const cn = socket?.getPeerCertificate().subject?.CN;
        if (!socket?.authorized) return refuse('no client certificate that verifies against the CA', 5);
        if (String(cn) !== device.deviceId) return refuse(`the client certificate CN ${String(cn)} is not ${device.deviceId}`, 5);
        if (password !== undefined) return refuse('a password with a client certificate', 5);
        deviceOf.set(client, device.deviceId);
        liveClient.set(device.deviceId, client);
        connections.push({ deviceId: device.deviceId, se: 0, at: now() });
        done(null, true);
        notify();
        return;
      }
      const token = password === undefined ? undefined : parseSasToken(password.toString('utf8'));
      if (!token) return refuse('password is not a SharedAccessSignature', 5);
      if (token.sr !== deviceResourceUri(options.host, device.deviceId)) return refuse(`sr ${token.sr} does not name this device`, 5);
      if (token.se * 1000 <= now()) return refuse(`token expired at ${new Date(token.se * 1000).toISOString()}`, 5);
      if (signSas(token.sr, device.key, token.se) !== token.sig) return refuse('signature does not match the device key', 5);
      deviceOf.set(client, device.deviceId);
      liveClient.set(device.deviceId, client);
      connections.push({ deviceId: device.deviceId, se: token.se, at: now() });
      // The hub drops the connection when the token expires.
      const timer = setTimeout(() => {
        expiryTimers.delete(timer);
        client.close();
      }, token.se * 1000 - now());
      expiryTimers.add(timer);
      done(null, true);
      notify();
    },
    authorizeSubscribe(client, subscription, callback) {
      const deviceId = deviceOf.get(client)!;
      const allowed = [`devices/${deviceId}/messages/devicebound/#`, '$iothub/methods/POST/#', '$iothub/twin/res/#', '$iothub/twin/PATCH/properties/desired/#'];
      const topics = subscriptions.get(client) ?? new Set<string>();
      subscriptions.set(client, topics.add(subscription.topic));
      const count = topics.size;
      if (!allowed.includes(subscription.topic) || count > 5) {
        violations.push({ rule: 'subscribe', clientId: client.id, detail: `subscription ${subscription.topic} (#${count})` });
        return callback(null, null);
      }
      callback(null, subscription);
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null);
      const deviceId = deviceOf.get(client)!;
      const fail = (rule: string, detail: string) => {
        violations.push({ rule, clientId: client.id, detail });
        callback(new Error(detail)); // aedes closes the connection, as the hub does
      };
      if (packet.qos === 2) return fail('qos', `QoS 2 publish to ${packet.topic}: the hub closes the connection`);
      if (packet.retain) return fail('retain', `retained publish to ${packet.topic}`);
      if (packet.payload.length > MAX_BYTES) return fail('size', `${packet.payload.length} bytes to ${packet.topic}, over 256 KB`);
      const topic = packet.topic;
      const body = () => {
        try {
          return packet.payload.length === 0 ? null : JSON.parse(packet.payload.toString());
        } catch {
          return undefined;
        }
      };
      if (topic.startsWith(`devices/${deviceId}/messages/events/`)) {
        const parsed = body();
        if (parsed === undefined) return fail('payload', 'telemetry is not JSON');
        const problem = telemetryBatchProblem(parsed);
        if (problem) return fail('payload', problem);
        telemetry.push({ deviceId, topic, body: parsed });
        // The daily quota counts messages in 4 KB blocks (learn.microsoft.com, IoT Hub quotas and throttling).
        meteredBlocks += Math.max(1, Math.ceil(packet.payload.length / 4096));
      } else if (topic.startsWith('$iothub/methods/res/')) {
        const match = /^\$iothub\/methods\/res\/(\d+)\/\?\$rid=(.+)$/.exec(topic);
        const waiter = match ? pendingMethods.get(match[2]!) : undefined;
        if (!match || !waiter) return fail('method', `method response ${topic} matches no pending $rid`);
        if (methodTarget.get(match[2]!) !== deviceId) return fail('method', `method response ${topic} from ${deviceId}, which was not asked`);
        methodTarget.delete(match[2]!);
        pendingMethods.delete(match[2]!);
        waiter({ status: Number(match[1]), body: body() });
      } else if (/^\$iothub\/twin\/GET\/\?\$rid=.+$/.test(topic)) {
        const requestRid = topic.slice(topic.indexOf('$rid=') + 5);
        setImmediate(() => void publishTo(deviceId, `$iothub/twin/res/200/?$rid=${requestRid}`, { desired: { ...desired, $version: desiredVersion }, reported: {} }));
      } else if (/^\$iothub\/twin\/PATCH\/properties\/reported\/\?\$rid=.+$/.test(topic)) {
        reported.push({ deviceId, body: body() });
        const requestRid = topic.slice(topic.indexOf('$rid=') + 5);
        setImmediate(() => void publishTo(deviceId, `$iothub/twin/res/204/?$rid=${requestRid}&$version=${reported.length}`, null));
      } else {
        return fail('topic', `publish to an undocumented topic: ${topic}`);
      }
      callback(null);
      notify();
    },
  });

  broker.on('clientDisconnect', (client) => {
    const deviceId = deviceOf.get(client);
    if (deviceId !== undefined && liveClient.get(deviceId) === client) liveClient.delete(deviceId);
  });

  /** Cloud-to-device messages go to one device, as on the hub, though the topics name none. */
  function publishTo(deviceId: string, topic: string, body: unknown): Promise<void> {
    const payload = Buffer.from(body === null ? '' : JSON.stringify(body));
    recipientOf.set(payload, deviceId);
    return new Promise((resolve, reject) => broker.publish({ cmd: 'publish', topic, payload, qos: 1, retain: false, dup: false }, (e) => (e ? reject(e) : resolve())));
  }

  // With a CA the hub asks for client certificates (X.509 devices); SAS devices send none.
  const endpoints = await listenMqttEndpoints({
    tls: { cert: options.tls.cert, key: options.tls.key, ...(options.tls.ca ? { ca: options.tls.ca, requestCert: true, rejectUnauthorized: false } : {}) },
    wssTls: { cert: options.tls.cert, key: options.tls.key },
    handle: (stream) => broker.handle(stream),
    refused: (detail) => violations.push({ rule: 'websocket', clientId: '(before CONNECT)', detail }),
  });
  const { port, wssPort } = endpoints;

  Object.assign(emulator, {
    url: `mqtts://127.0.0.1:${port}`,
    wssUrl: `wss://127.0.0.1:${wssPort}/$iothub/websocket`,
    host: options.host,
    telemetry,
    meteredBlocks: () => meteredBlocks,
    reported,
    violations,
    connections,
    refusals,
    desired,
    async invokeMethod(deviceId: string, method: string, payload: unknown, timeoutMs = 30_000) {
      const requestRid = String(++rid);
      methodTarget.set(requestRid, deviceId);
      const answer = new Promise<{ status: number; body: unknown }>((resolve, reject) => {
        const timer = setTimeout(() => {
          pendingMethods.delete(requestRid);
          reject(new Error(`method ${method} timed out (the hub answers 504)`));
        }, timeoutMs);
        pendingMethods.set(requestRid, (r) => (clearTimeout(timer), resolve(r)));
      });
      await publishTo(deviceId, `$iothub/methods/POST/${method}/?$rid=${requestRid}`, payload);
      return answer;
    },
    async pushDesired(deviceId: string, patch: Record<string, unknown>) {
      Object.assign(desired, patch);
      desiredVersion++;
      await publishTo(deviceId, `$iothub/twin/PATCH/properties/desired/?$version=${desiredVersion}`, { ...patch, $version: desiredVersion });
    },
    addDevice(device: AzureDevice) {
      devices.set(device.deviceId, { ...device });
      notify();
    },
    removeDevice(deviceId: string) {
      devices.delete(deviceId);
      liveClient.get(deviceId)?.close();
      liveClient.delete(deviceId);
      notify();
    },
    deviceIds: () => [...devices.keys()],
    waitFor: events.waitFor,
    async stop() {
      for (const timer of expiryTimers) clearTimeout(timer);
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await endpoints.close();
    },
  } satisfies AzureEmulator);
  return emulator;
}

/** The agent's telemetry body on IoT Hub: a JSON array of readings {id, seq, sensor, ts, values} (README, Azure IoT Hub). */
export function telemetryBatchProblem(body: unknown): string | undefined {
  if (!Array.isArray(body) || body.length === 0) return `telemetry is not a non-empty JSON array of readings: ${JSON.stringify(body)?.slice(0, 100)}`;
  for (const item of body as Record<string, unknown>[]) {
    if (typeof item !== 'object' || item === null) return 'a telemetry item is not an object';
    if (typeof item.id !== 'string' || typeof item.seq !== 'number' || typeof item.sensor !== 'string' || typeof item.ts !== 'number' || typeof item.values !== 'object' || item.values === null) {
      return `a telemetry item lacks id, seq, sensor, ts or values: ${JSON.stringify(item).slice(0, 120)}`;
    }
  }
  return undefined;
}
