// A Waylay tenant broker for tests: aedes in-process over TCP or TLS, enforcing what Waylay's docs
// say it enforces (https://docs.waylay.io/api/broker-and-storage/ for the resources topics,
// https://docs.waylay.io/features/data_ingestion/mqtt/mqtt_broker_manager/ for the broker-manager
// ones). Per-device username/password, clientId = the device's (default: its
// resource id), an ACL confining each device to publishing its events/data topic and subscribing
// its commands topic, and event payloads checked by payload-rules.ts. Wrong credentials and
// clientIds are refused at CONNECT; every broken rule is recorded in `violations` so a test that
// asserts it empty fails; an ACL or payload breach also closes the link, as the real broker would.
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { Aedes, type AuthenticateError, type Client } from 'aedes';
import { checkWaylayPayload, WAYLAY_PAYLOAD_LIMIT } from './payload-rules.ts';

export type WaylayProfile = 'resources' | 'broker-manager';

export interface WaylayDevice {
  resourceId: string;
  username: string;
  password: string;
  /** Default: resourceId. */
  clientId?: string;
}

export interface WaylayEmulatorOptions {
  profile: WaylayProfile;
  /** Required for the "resources" profile. */
  domain?: string;
  devices: WaylayDevice[];
  /** Serve mqtts with this server certificate (test/helpers/test-ca.ts makeTestPki()). */
  tls?: { cert: Buffer; key: Buffer };
  port?: number;
  maxPayloadBytes?: number;
}

export interface Violation {
  rule: 'credentials' | 'client-id' | 'protocol' | 'publish-acl' | 'subscribe-acl' | 'qos' | 'payload';
  clientId: string;
  detail: string;
}

export interface ReceivedEvent {
  resourceId: string;
  topic: string;
  objects: Record<string, unknown>[];
}

export interface WaylayEmulator {
  url: string;
  port: number;
  events: ReceivedEvent[];
  violations: Violation[];
  /** Every CONNECT that was accepted, by clientId. */
  connections: string[];
  topicsFor(resourceId: string): { events: string; commands: string };
  /** Publishes a command (an object is sent as JSON; a string or Buffer as is) on the device's commands topic. */
  sendCommand(resourceId: string, body: unknown): Promise<void>;
  /** Resolves with the first event object (already received or to come) matching the predicate. */
  waitForObject(predicate: (object: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export function waylayTopicsFor(profile: WaylayProfile, domain: string | undefined, resourceId: string) {
  if (profile === 'broker-manager') return { events: `waylay/${resourceId}/data`, commands: `waylay/${resourceId}/commands` };
  return { events: `${domain}/resources/${resourceId}/events`, commands: `${domain}/resources/${resourceId}/commands` };
}

function refusal(message: string, returnCode: AuthenticateError['returnCode']): AuthenticateError {
  // aedes declares the return codes as a const enum, which type stripping cannot import.
  return Object.assign(new Error(message), { returnCode });
}

export async function startWaylayEmulator(options: WaylayEmulatorOptions): Promise<WaylayEmulator> {
  if (options.profile === 'resources' && !options.domain) throw new Error('the resources profile needs a domain');
  const limit = options.maxPayloadBytes ?? WAYLAY_PAYLOAD_LIMIT;
  const topicsFor = (resourceId: string) => waylayTopicsFor(options.profile, options.domain, resourceId);
  const byUsername = new Map(options.devices.map((d) => [d.username, d]));
  const deviceOf = new WeakMap<Client, WaylayDevice>();
  const events: ReceivedEvent[] = [];
  const violations: Violation[] = [];
  const connections: string[] = [];
  const listeners = new Set<() => void>();

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      const device = username === undefined ? undefined : byUsername.get(username);
      if (client.version !== 3 && client.version !== 4) {
        violations.push({ rule: 'protocol', clientId: client.id, detail: `MQTT protocol level ${client.version}, expected 3.1.1` });
        return done(refusal('unacceptable protocol', 1), false);
      }
      if (!device || password === undefined || password.toString('utf8') !== device.password) {
        violations.push({ rule: 'credentials', clientId: client.id, detail: `bad username or password for username ${JSON.stringify(username ?? null)}` });
        return done(refusal('bad username or password', 4), false);
      }
      const expected = device.clientId ?? device.resourceId;
      if (client.id !== expected) {
        violations.push({ rule: 'client-id', clientId: client.id, detail: `clientId ${JSON.stringify(client.id)}, expected ${JSON.stringify(expected)} for ${device.username}` });
        return done(refusal('identifier rejected', 2), false);
      }
      deviceOf.set(client, device);
      connections.push(client.id);
      done(null, true);
    },
    authorizePublish(client, packet, callback) {
      if (client === null) return callback(null); // the emulator's own command publishes
      const device = deviceOf.get(client);
      if (!device) return callback(new Error('not authenticated'));
      const allowed = topicsFor(device.resourceId).events;
      if (packet.topic !== allowed) {
        violations.push({ rule: 'publish-acl', clientId: client.id, detail: `published to ${packet.topic}; ${device.username} may publish only to ${allowed}` });
        return callback(new Error('publish outside the ACL'));
      }
      if (packet.qos === 2) {
        violations.push({ rule: 'qos', clientId: client.id, detail: 'QoS 2 publish; Waylay takes QoS 0 or 1' });
        return callback(new Error('QoS 2 not supported'));
      }
      const { objects, problems } = checkWaylayPayload(Buffer.from(packet.payload), device.resourceId, limit);
      if (problems.length > 0) {
        for (const detail of problems) violations.push({ rule: 'payload', clientId: client.id, detail: `on ${packet.topic}: ${detail}` });
        return callback(new Error('invalid payload'));
      }
      events.push({ resourceId: device.resourceId, topic: packet.topic, objects });
      for (const listener of listeners) listener();
      callback(null);
    },
    authorizeSubscribe(client, subscription, callback) {
      const device = deviceOf.get(client);
      const allowed = device ? topicsFor(device.resourceId).commands : undefined;
      if (subscription.topic !== allowed) {
        violations.push({ rule: 'subscribe-acl', clientId: client.id, detail: `subscribed to ${subscription.topic}; may subscribe only to ${allowed ?? '(nothing)'}` });
        return callback(null, null); // SUBACK 0x80, as a broker with an ACL answers
      }
      callback(null, subscription);
    },
  });

  const server: Server = options.tls ? createTlsServer({ cert: options.tls.cert, key: options.tls.key }, broker.handle) : createTcpServer(broker.handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `${options.tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    port,
    events,
    violations,
    connections,
    topicsFor,
    sendCommand(resourceId, body) {
      const payload = typeof body === 'string' || Buffer.isBuffer(body) ? Buffer.from(body) : Buffer.from(JSON.stringify(body));
      return new Promise((resolve, reject) =>
        broker.publish({ cmd: 'publish', topic: topicsFor(resourceId).commands, payload, qos: 1, retain: false, dup: false }, (error) => (error ? reject(error) : resolve())),
      );
    },
    waitForObject(predicate, timeoutMs = 15_000) {
      const find = () => {
        for (const event of events) for (const object of event.objects) if (predicate(object)) return object;
        return undefined;
      };
      const found = find();
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          listeners.delete(listener);
          reject(new Error(`no matching Waylay event within ${timeoutMs} ms (${events.length} messages received; violations: ${JSON.stringify(violations)})`));
        }, timeoutMs);
        const listener = () => {
          const object = find();
          if (!object) return;
          clearTimeout(timer);
          listeners.delete(listener);
          resolve(object);
        };
        listeners.add(listener);
      });
    },
    async stop() {
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
