// A Xyte cloud for tests, enforcing what clouds.md says Xyte enforces. Real parts: an HTTPS
// registration endpoint, and a real Mosquitto speaking MQTT 5 (aedes 1.x does not) whose password
// file and ACL hold the registered devices, reloaded with SIGHUP after every registration or
// deletion. Mosquitto itself refuses wrong keys and topics outside `v1/device/{id}/`; what it cannot
// check (protocol 5, clientId = username, user properties on every publish, payload shapes, command
// replies with the right correlation data) an observer client and Mosquitto's log check here.
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { startMosquitto, type Mosquitto } from '../../helpers/mosquitto.ts';
import type { TestPki } from '../../helpers/test-ca.ts';

export interface XyteDeviceRecord {
  id: string;
  accessKey: string;
  sn: string;
  mac?: string;
  cloudId?: string;
  hardwareKey: string;
  firmwareVersion: string;
  name?: string;
}

export interface XyteViolation {
  rule: string;
  deviceId: string;
  detail: string;
}

export interface XyteTelemetry {
  deviceId: string;
  body: { status: string; timestamp?: string; telemetries: Record<string, unknown>; message?: string };
}

export interface XyteCommandUpdate {
  deviceId: string;
  commandId: string;
  status: 'in_progress' | 'done' | 'failed';
  message?: string;
  at: number;
}

export interface XyteEmulator {
  /** https://127.0.0.1:<port>/v1/devices: POST registers a device. */
  registrationUrl: string;
  /** What registration returns as mqtt_hub_url. */
  mqttUrl: string;
  devices(): XyteDeviceRecord[];
  /** Every POST to the registration endpoint, with the HTTP status it got. */
  registrations: { body: unknown; status: number }[];
  telemetry: XyteTelemetry[];
  commandUpdates: XyteCommandUpdate[];
  configUpdates: { deviceId: string; body: unknown }[];
  violations: XyteViolation[];
  /** Refused connections and ACL denials from Mosquitto's log. */
  brokerDenials: string[];
  /** A device registered beforehand (credentials given in config, duplicates). */
  addDevice(device: Omit<XyteDeviceRecord, 'id' | 'accessKey'> & { id?: string; accessKey?: string }): Promise<XyteDeviceRecord>;
  /** Deleted in the portal: its key stops working and Mosquitto drops its connection on reload. */
  deleteDevice(id: string): Promise<void>;
  /** `{id, status: "pending", name, parameters}` with a response topic and correlation data. Returns the command id. */
  sendCommand(deviceId: string, name: string, parameters?: Record<string, unknown>, options?: { topic?: 'commands' | 'command' }): Promise<string>;
  pushConfig(deviceId: string, config: { version: number } & Record<string, unknown>): Promise<void>;
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

const OBSERVER = 'xyte-observer';
const SEMVER = /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/;
const MAC = /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/;
const TELEMETRY_KEYS = new Set(['status', 'timestamp', 'telemetries', 'message']);

export async function startXyteEmulator(options: { pki: TestPki; hardwareKeys?: string[] }): Promise<XyteEmulator> {
  const devices = new Map<string, XyteDeviceRecord>();
  /** Deleted devices: what they published before Mosquitto's reload dropped them is not counted. */
  const deleted = new Set<string>();
  const observerPassword = randomBytes(16).toString('hex');
  const violations: XyteViolation[] = [];
  const brokerDenials: string[] = [];
  const registrations: XyteEmulator['registrations'] = [];
  const telemetry: XyteTelemetry[] = [];
  const commandUpdates: XyteCommandUpdate[] = [];
  const configUpdates: XyteEmulator['configUpdates'] = [];
  /** Commands sent, by id: who they went to, their correlation data, and the statuses seen. */
  const commands = new Map<string, { deviceId: string; correlationData: Buffer; statuses: string[] }>();
  const violation = (rule: string, deviceId: string, detail: string) => violations.push({ rule, deviceId, detail });

  let logTail = '';
  const onLog = (text: string) => {
    logTail += text;
    const lines = logTail.split('\n');
    logTail = lines.pop() ?? '';
    for (const line of lines) inspectLogLine(line);
  };
  // "New client connected from 127.0.0.1:55524 as dev1 (p5, c1, k60, u'dev1')."
  const inspectLogLine = (line: string) => {
    const connected = /New client connected from \S+ as (\S+) \(p(\d+), c\d, k\d+(?:, u'([^']*)')?\)/.exec(line);
    if (connected) {
      const [, clientId, protocol, username] = connected;
      if (username === OBSERVER) return;
      if (protocol !== '5') violation('mqtt5', clientId!, `connected with protocol p${protocol}, Xyte requires MQTT 5`);
      if (clientId !== username) violation('client-id', clientId!, `clientId "${clientId}" differs from username "${username ?? ''}"`);
      return;
    }
    if (/Denied PUBLISH|not authorised|Denied SUBSCRIBE/i.test(line)) {
      brokerDenials.push(line);
      const denied = /Denied PUBLISH from (\S+) .*'([^']*)'/.exec(line);
      if (denied) violation('publish-acl', denied[1]!, `published outside its topics: ${denied[2]}`);
    }
  };

  const broker: Mosquitto = await startMosquitto({ configLines: ['allow_anonymous true'], onLog });
  const passwordFile = () => join(broker.dir, 'passwords');
  const writeAccess = () => {
    // mosquitto_passwd -b ... never through a shell; the file is rebuilt so deletions need no -D.
    writeFileSync(passwordFile(), '');
    chmodSync(passwordFile(), 0o644);
    execFileSync('mosquitto_passwd', ['-b', passwordFile(), OBSERVER, observerPassword]);
    for (const device of devices.values()) execFileSync('mosquitto_passwd', ['-b', passwordFile(), device.id, device.accessKey]);
  };

  // Restart with the real rules now that the temp dir exists.
  await broker.stop();
  const aclFile = join(broker.dir, 'acl');
  writeFileSync(aclFile, `user ${OBSERVER}\ntopic readwrite #\n\npattern readwrite v1/device/%u/#\n`);
  chmodSync(aclFile, 0o644);
  writeAccess();
  broker.configLines = ['allow_anonymous false', `password_file ${passwordFile()}`, `acl_file ${aclFile}`, 'log_type all', 'log_dest stderr', 'max_packet_size 1048576'];
  await broker.start();
  const mqttUrl = broker.url;

  const reload = async () => {
    writeAccess();
    broker.reload();
    // Mosquitto reloads asynchronously; a short pause lets it read the files before anyone relies on them.
    await new Promise((resolve) => setTimeout(resolve, 150));
  };

  const observer: MqttClient = await mqtt.connectAsync(mqttUrl, { clientId: OBSERVER, username: OBSERVER, password: observerPassword, protocolVersion: 5, reconnectPeriod: 500 });
  await observer.subscribeAsync('v1/device/#', { qos: 1, nl: true, rap: true });
  observer.on('message', (topic, payload, packet) => {
    const match = /^v1\/device\/([^/]+)\/(.+)$/.exec(topic);
    if (!match) return;
    const [, deviceId, rest] = match as unknown as [string, string, string];
    const device = devices.get(deviceId);
    if (!device && deleted.has(deviceId)) return;
    if (!device) return violation('unknown-device', deviceId, `publish on ${topic} for a device that is not registered`);
    if (packet.qos === 2) violation('qos', deviceId, `QoS 2 on ${topic}`);
    if (packet.retain) violation('retain', deviceId, `retained publish on ${topic}`);
    const user = packet.properties?.userProperties ?? {};
    if (user.device_id !== device.id || user.access_key !== device.accessKey) violation('user-properties', deviceId, `publish on ${topic} without the user properties device_id and access_key of this device (got ${JSON.stringify(Object.keys(user))})`);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return violation('payload', deviceId, `${topic}: not JSON`);
    }
    if (rest === 'telemetry') return checkTelemetry(deviceId, body);
    if (rest === 'commands/update') return checkCommandUpdate(deviceId, body, packet.properties?.correlationData);
    if (rest === 'config/update') {
      if (typeof (body as { version?: unknown }).version !== 'number') violation('config-update', deviceId, 'config/update without a numeric version');
      configUpdates.push({ deviceId, body });
      return;
    }
    violation('topic', deviceId, `published on ${topic}, which Xyte does not define for devices`);
  });

  function checkTelemetry(deviceId: string, body: unknown) {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return violation('telemetry', deviceId, 'telemetry is not a JSON object');
    const b = body as Record<string, unknown>;
    const extra = Object.keys(b).filter((k) => !TELEMETRY_KEYS.has(k));
    if (extra.length > 0) violation('telemetry', deviceId, `unknown keys ${extra.join(', ')}`);
    if (!['online', 'offline', 'error'].includes(b.status as string)) violation('telemetry', deviceId, `status ${JSON.stringify(b.status)} is not online, offline or error`);
    if (b.timestamp !== undefined && (typeof b.timestamp !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(b.timestamp))) violation('telemetry', deviceId, `timestamp ${JSON.stringify(b.timestamp)} is not ISO 8601`);
    if (b.message !== undefined && typeof b.message !== 'string') violation('telemetry', deviceId, 'message is not a string');
    if (typeof b.telemetries !== 'object' || b.telemetries === null || Array.isArray(b.telemetries)) return violation('telemetry', deviceId, 'telemetries is not an object');
    for (const [key, value] of Object.entries(b.telemetries)) {
      if (value !== null && typeof value === 'object') violation('telemetry', deviceId, `telemetries.${key} is nested; Xyte takes flat keys`);
    }
    telemetry.push({ deviceId, body: b as XyteTelemetry['body'] });
  }

  function checkCommandUpdate(deviceId: string, body: unknown, correlationData: Buffer | undefined) {
    const { id, status, message } = (body ?? {}) as { id?: unknown; status?: unknown; message?: unknown };
    const command = typeof id === 'string' ? commands.get(id) : undefined;
    if (!command || command.deviceId !== deviceId) return violation('command-update', deviceId, `update for unknown command ${JSON.stringify(id)}`);
    if (!correlationData || !correlationData.equals(command.correlationData)) violation('correlation-data', deviceId, `update for ${String(id)} without the command's correlation data`);
    if (status !== 'in_progress' && status !== 'done' && status !== 'failed') return violation('command-update', deviceId, `status ${JSON.stringify(status)}`);
    if (message !== undefined && typeof message !== 'string') violation('command-update', deviceId, 'message is not a string');
    const final = command.statuses.some((s) => s === 'done' || s === 'failed');
    if (final) violation('command-order', deviceId, `${status} after the final status of ${String(id)}`);
    if (status !== 'in_progress' && !command.statuses.includes('in_progress')) violation('command-order', deviceId, `${status} for ${String(id)} without in_progress first`);
    command.statuses.push(status);
    commandUpdates.push({ deviceId, commandId: id as string, status, ...(typeof message === 'string' ? { message } : {}), at: Date.now() });
  }

  const addDevice = async (input: Omit<XyteDeviceRecord, 'id' | 'accessKey'> & { id?: string; accessKey?: string }): Promise<XyteDeviceRecord> => {
    const device: XyteDeviceRecord = { ...input, id: input.id ?? randomUUID(), accessKey: input.accessKey ?? randomBytes(24).toString('hex') };
    devices.set(device.id, device);
    await reload();
    return device;
  };

  const http: Server = createServer({ cert: options.pki.cert, key: options.pki.key }, (req, res) => {
    const answer = (status: number, body: unknown, recorded: unknown) => {
      registrations.push({ body: recorded, status });
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    req.on('end', () => {
      if (req.url !== '/v1/devices') return answer(404, { error: 'not found' }, text);
      if (req.method !== 'POST') return answer(405, { error: 'method not allowed' }, text);
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(text) as Record<string, unknown>;
      } catch {
        return answer(422, { error: 'body is not JSON' }, text);
      }
      const { sn, firmware_version: firmware, hardware_key: hardwareKey, mac, cloud_id: cloudId, name } = body;
      if (typeof sn !== 'string' || sn === '') return answer(422, { error: 'sn is required' }, body);
      if (typeof firmware !== 'string' || !SEMVER.test(firmware)) return answer(422, { error: 'firmware_version must be a semantic version' }, body);
      if (typeof hardwareKey !== 'string' || hardwareKey === '') return answer(422, { error: 'hardware_key is required' }, body);
      if (options.hardwareKeys && !options.hardwareKeys.includes(hardwareKey)) return answer(401, { error: 'unknown hardware_key' }, body);
      if (mac === undefined && cloudId === undefined) return answer(422, { error: 'mac or cloud_id is required' }, body);
      if (mac !== undefined && (typeof mac !== 'string' || !MAC.test(mac))) return answer(422, { error: 'mac is not a MAC address' }, body);
      const taken = [...devices.values()].some((d) => d.sn === sn || (mac !== undefined && d.mac?.toLowerCase() === (mac).toLowerCase()) || (cloudId !== undefined && d.cloudId === cloudId));
      if (taken) return answer(409, { error: 'device already registered' }, body);
      void addDevice({ sn, firmwareVersion: firmware, hardwareKey, ...(typeof mac === 'string' ? { mac } : {}), ...(typeof cloudId === 'string' ? { cloudId } : {}), ...(typeof name === 'string' ? { name } : {}) }).then((device) => {
        const base = `https://127.0.0.1:${(http.address() as AddressInfo).port}/v1/`;
        answer(201, { id: device.id, access_key: device.accessKey, hub_url: base, hub_url_static_cert: base, mqtt_hub_url: mqttUrl }, body);
      });
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const registrationUrl = `https://127.0.0.1:${(http.address() as AddressInfo).port}/v1/devices`;

  const waitFor = async (check: () => boolean, timeoutMs = 10_000, what = 'a condition') => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`xyte emulator: timed out after ${timeoutMs} ms waiting for ${what}; violations: ${JSON.stringify(violations)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  return {
    registrationUrl,
    mqttUrl,
    devices: () => [...devices.values()],
    registrations,
    telemetry,
    commandUpdates,
    configUpdates,
    violations,
    brokerDenials,
    addDevice,
    async deleteDevice(id) {
      devices.delete(id);
      deleted.add(id);
      await reload();
    },
    async sendCommand(deviceId, name, parameters = {}, sendOptions = {}) {
      const id = randomUUID();
      const correlationData = randomBytes(8);
      commands.set(id, { deviceId, correlationData, statuses: [] });
      await observer.publishAsync(`v1/device/${deviceId}/${sendOptions.topic ?? 'commands'}`, JSON.stringify({ id, status: 'pending', name, parameters }), {
        qos: 1,
        properties: { responseTopic: `v1/device/${deviceId}/commands/update`, correlationData },
      });
      return id;
    },
    async pushConfig(deviceId, config) {
      await observer.publishAsync(`v1/device/${deviceId}/config`, JSON.stringify(config), { qos: 1 });
    },
    waitFor,
    async stop() {
      observer.end(true);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await broker.cleanup();
    },
  };
}
