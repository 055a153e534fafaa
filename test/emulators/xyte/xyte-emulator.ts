// A Xyte cloud for tests, enforcing what Xyte's device reference says it enforces
// (https://dev.xyte.io/reference/register-device, https://dev.xyte.io/reference/setting-up-mqtt,
// https://dev.xyte.io/reference/mqtt-events). Real parts: an HTTPS registration endpoint
// (POST /v1/devices), and a real Mosquitto 2.0 speaking MQTT 5 (aedes 1.x cannot) whose password
// file and ACL hold the registered devices, reloaded with SIGHUP after every registration or
// deletion. Mosquitto itself refuses wrong keys and topics outside
// `v1/device/{id}/`; what it cannot refuse is recorded in `violations`: protocol 5 and
// clientId = username (from Mosquitto's "New client connected" log lines), ACL denials (its
// "Denied PUBLISH" lines), and, seen by an observer client subscribed to `v1/device/#`, the user
// properties on every publish, QoS and retain, payload shapes, and command updates with the right
// correlation data, in the right order.
//
// Mosquitto 2.0.11 facts this relies on (checked by hand against the installed broker):
// - log lines, after an epoch-seconds prefix "1795402464: ":
//     New client connected from 127.0.0.1:51058 as <clientId> (p5, c1, k60, u'<username>').
//       p5 = MQTT 5, p2 = 3.1.1, p1 = 3.1 (the broker's protocol enum, not the protocol level)
//     Denied PUBLISH from <clientId> (d0, q1, r0, m57834, '<topic>', ... (6 bytes))
//     Sending CONNACK to <clientId or address> (<session present>, <reason code>)
//       a refused CONNECT has a non-zero reason code (135 for MQTT 5, 5 for 3.1.1) and is
//       followed by "Client <unknown> disconnected, not authorised."
//     Reloading config.
//   SUBSCRIBE is not checked against the ACL (the SUBACK grants it; delivery is filtered), so
//   there is no subscribe denial to log.
// - SIGHUP: the main loop logs "Reloading config.", then rereads the password file and ACL and
//   re-checks every connected client in the same iteration; a client whose username is no longer in
//   the password file is disconnected there and then ("Client <clientId> disconnected."), whatever
//   its clientId. So deleteDevice needs no kick of its own: after the reload the connection is gone.
//   The broker is single-threaded, so a PUBACK to an observer publish sent after that log line
//   proves the reload has finished.
// - User properties, response topic and correlation data are forwarded to MQTT 5 subscribers; the
//   retain flag survives live delivery only with retain-as-published; QoS is min(publish,
//   subscription), so the observer subscribes at QoS 2 to see a device's QoS 2.
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
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
  /** What registration returns as mqtt_hub_url: mqtt://127.0.0.1:<port>. */
  mqttUrl: string;
  /** CA certificate (PEM) the agent needs to trust the HTTPS server. */
  ca: Buffer;
  devices(): XyteDeviceRecord[];
  /** Every POST to the registration endpoint, with the HTTP status it got. */
  registrations: { body: unknown; status: number }[];
  telemetry: XyteTelemetry[];
  commandUpdates: XyteCommandUpdate[];
  configUpdates: { deviceId: string; body: unknown }[];
  violations: XyteViolation[];
  /** Connection refusals and ACL denials seen in Mosquitto's log (lines). */
  brokerDenials: string[];
  /** Adds a device directly (as if registered before), e.g. to test credentials given in config or duplicates. */
  addDevice(device: Omit<XyteDeviceRecord, 'id' | 'accessKey'> & { id?: string; accessKey?: string }): Promise<XyteDeviceRecord>;
  /** Deletes the device in the "portal": its credentials stop working at once and its current connection is dropped. Its sn/mac may register again. */
  deleteDevice(id: string): Promise<void>;
  /** Publishes {id, status:'pending', name, parameters} on v1/device/{id}/commands (or /command), QoS 1, with MQTT 5 responseTopic v1/device/{id}/commands/update and a random correlationData. Returns the command id. */
  sendCommand(deviceId: string, name: string, parameters?: Record<string, unknown>, options?: { topic?: 'commands' | 'command' }): Promise<string>;
  /** Publishes {version, last_updated, ...config} on v1/device/{id}/config, QoS 1. */
  pushConfig(deviceId: string, config: { version: number } & Record<string, unknown>): Promise<void>;
  waitFor(check: () => boolean, timeoutMs?: number, what?: string): Promise<void>;
  stop(): Promise<void>;
}

const OBSERVER = 'xyte-observer';
const SEMVER = /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$/;
const MAC = /^([0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}$/;
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)$/;
const TELEMETRY_KEYS = new Set(['status', 'timestamp', 'telemetries', 'message']);
const COMMAND_UPDATE_KEYS = new Set(['id', 'status', 'message']);
const PROTOCOLS: Record<string, string> = { '1': 'MQTT 3.1', '2': 'MQTT 3.1.1', '5': 'MQTT 5' };

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export async function startXyteEmulator(options: { pki: TestPki; hardwareKeys?: string[] }): Promise<XyteEmulator> {
  const devices = new Map<string, XyteDeviceRecord>();
  /** Deleted ids: a publish already in flight when the broker dropped the device is not judged. */
  const deleted = new Set<string>();
  const violations: XyteViolation[] = [];
  const brokerDenials: string[] = [];
  const registrations: XyteEmulator['registrations'] = [];
  const telemetry: XyteTelemetry[] = [];
  const commandUpdates: XyteCommandUpdate[] = [];
  const configUpdates: XyteEmulator['configUpdates'] = [];
  /** Commands sent, by id: to whom, with which correlation data, and the statuses answered so far. */
  const commands = new Map<string, { deviceId: string; correlationData: Buffer; statuses: string[] }>();
  /** clientId -> username, from the connect log lines (a denial names only the clientId). */
  const usernameOf = new Map<string, string>();
  const violation = (rule: string, deviceId: string, detail: string) => void violations.push({ rule, deviceId, detail });

  const until = async (check: () => boolean, timeoutMs: number, what: string, poll = 20) => {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`xyte emulator: timed out after ${timeoutMs} ms waiting for ${what}; violations: ${JSON.stringify(violations)}; broker denials: ${JSON.stringify(brokerDenials)}`);
      await sleep(poll);
    }
  };

  // ---- Mosquitto's log ----------------------------------------------------------------------
  let reloadsSeen = 0;
  let logTail = '';
  const onLog = (text: string) => {
    logTail += text;
    const lines = logTail.split('\n');
    logTail = lines.pop() ?? '';
    for (const line of lines) inspectLogLine(line);
  };
  const inspectLogLine = (line: string) => {
    if (line.endsWith(': Reloading config.')) {
      reloadsSeen++;
      return;
    }
    const connected = /New client connected from \S+ as (\S+) \(p(\d+), c\d, k\d+(?:, u'(.*)')?\)\.$/.exec(line);
    if (connected) {
      const [, clientId = '', protocol = '', username] = connected;
      if (username === OBSERVER) return;
      if (username !== undefined) usernameOf.set(clientId, username);
      const deviceId = username ?? clientId;
      if (protocol !== '5') violation('mqtt5', deviceId, `connected with ${PROTOCOLS[protocol] ?? `protocol p${protocol}`}; Xyte requires MQTT 5`);
      if (clientId !== username) violation('client-id', deviceId, `clientId ${JSON.stringify(clientId)} differs from username ${JSON.stringify(username ?? null)}; both must be the device id`);
      return;
    }
    const refused = /Sending CONNACK to \S+ \(\d+, (\d+)\)$/.exec(line);
    if (refused && refused[1] !== '0') {
      brokerDenials.push(line);
      return;
    }
    const denied = /Denied PUBLISH from (\S+) \(d\d, q\d, r\d, m\d+, '(.*)', \.\.\. \(\d+ bytes\)\)$/.exec(line);
    if (denied) {
      brokerDenials.push(line);
      const [, clientId = '', topic = ''] = denied;
      violation('publish-acl', usernameOf.get(clientId) ?? clientId, `published on ${topic}, outside v1/device/{id}/ (denied by the broker's ACL)`);
    }
  };

  // ---- password file and ACL ----------------------------------------------------------------
  // Own temp dir (0755) so the files exist before the broker first starts; Mosquitto, started as
  // root, drops to the `mosquitto` user and reads them again on every SIGHUP.
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-xyte-'));
  chmodSync(dir, 0o755);
  const passwordFile = join(dir, 'passwords');
  const aclFile = join(dir, 'acl');
  const observerPassword = randomBytes(16).toString('hex');
  const passwd = async (...args: string[]) => {
    await run('mosquitto_passwd', [...args]); // execFile: no shell, keys never reach a command line parser
    chmodSync(passwordFile, 0o644); // -c creates it with the umask's mode
  };
  await passwd('-b', '-c', passwordFile, OBSERVER, observerPassword);
  writeFileSync(aclFile, `user ${OBSERVER}\ntopic readwrite #\n\npattern readwrite v1/device/%u/#\n`);
  chmodSync(aclFile, 0o644);

  let broker: Mosquitto;
  try {
    broker = await startMosquitto({ configLines: ['allow_anonymous false', `password_file ${passwordFile}`, `acl_file ${aclFile}`, 'log_type all', 'log_dest stderr'], onLog });
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  // Reread on SIGHUP by the unprivileged broker: readable whatever the umask was.
  chmodSync(join(broker.dir, 'mosquitto.conf'), 0o644);
  const mqttUrl = broker.url;

  const observer: MqttClient = await mqtt.connectAsync(mqttUrl, { clientId: OBSERVER, username: OBSERVER, password: observerPassword, protocolVersion: 5, reconnectPeriod: 500 });
  // nl: not our own commands and config pushes; rap: keep the retain flag; rh 2: no retained messages
  // on (re)subscribe, so a retained publish is judged once; QoS 2 to see a device's QoS 2.
  await observer.subscribeAsync('v1/device/#', { qos: 2, nl: true, rap: true, rh: 2 });

  // Password-file edits and reloads one at a time (registrations may arrive together).
  let queue: Promise<unknown> = Promise.resolve();
  const serialized = <T>(task: () => Promise<T>): Promise<T> => {
    const result = queue.then(task);
    queue = result.catch(() => undefined);
    return result;
  };
  const reload = async () => {
    const before = reloadsSeen;
    broker.reload();
    await until(() => reloadsSeen > before, 5000, 'Mosquitto to log "Reloading config."', 5);
    // Handled after the reload (and the disconnection of clients no longer in the password file).
    await observer.publishAsync('xyte-emulator/reload-barrier', '', { qos: 1 });
  };

  // ---- what devices publish -----------------------------------------------------------------
  observer.on('message', (topic, payload, packet) => {
    const match = /^v1\/device\/([^/]+)\/(.+)$/.exec(topic);
    if (!match) return;
    const [, deviceId = '', rest = ''] = match;
    const device = devices.get(deviceId);
    if (!device) {
      if (!deleted.has(deviceId)) violation('unknown-device', deviceId, `publish on ${topic} for a device that is not registered`);
      return;
    }
    if (packet.qos === 2) violation('qos', deviceId, `QoS 2 publish on ${topic}; Xyte devices publish with QoS 0 or 1`);
    if (packet.retain) violation('retain', deviceId, `retained publish on ${topic}`);
    const user = packet.properties?.userProperties ?? {};
    if (user.device_id !== device.id || user.access_key !== device.accessKey) {
      violation('user-properties', deviceId, `publish on ${topic} without the user properties device_id and access_key of this device (got ${JSON.stringify(Object.keys(user))})`);
    }
    const known = rest === 'telemetry' || rest === 'commands/update' || rest === 'config/update';
    if (!known) return violation('topic', deviceId, `published on ${topic}, which Xyte does not take from devices`);
    let body: unknown;
    try {
      body = JSON.parse(payload.toString('utf8'));
    } catch {
      return violation('payload', deviceId, `${topic}: payload is not JSON`);
    }
    if (rest === 'telemetry') return checkTelemetry(deviceId, body);
    if (rest === 'commands/update') return checkCommandUpdate(deviceId, body, packet.properties?.correlationData);
    if (!isObject(body) || typeof body.version !== 'number') violation('config-update', deviceId, 'config/update is not a JSON object with a numeric version');
    configUpdates.push({ deviceId, body });
  });

  function checkTelemetry(deviceId: string, body: unknown) {
    if (!isObject(body)) return violation('telemetry', deviceId, 'telemetry is not a JSON object');
    const extra = Object.keys(body).filter((k) => !TELEMETRY_KEYS.has(k));
    if (extra.length > 0) violation('telemetry', deviceId, `unknown keys ${extra.join(', ')}; only status, timestamp, telemetries, message`);
    if (body.status !== 'online' && body.status !== 'offline' && body.status !== 'error') violation('telemetry', deviceId, `status ${JSON.stringify(body.status)} is not online, offline or error`);
    if (body.timestamp !== undefined && (typeof body.timestamp !== 'string' || !ISO_8601.test(body.timestamp) || Number.isNaN(Date.parse(body.timestamp)))) {
      violation('telemetry', deviceId, `timestamp ${JSON.stringify(body.timestamp)} is not an ISO 8601 time`);
    }
    if (body.message !== undefined && typeof body.message !== 'string') violation('telemetry', deviceId, 'message is not a string');
    if (!isObject(body.telemetries)) return violation('telemetry', deviceId, 'telemetries is missing or not an object');
    for (const [key, value] of Object.entries(body.telemetries)) {
      if (value !== null && typeof value === 'object') violation('telemetry', deviceId, `telemetries.${key} is ${Array.isArray(value) ? 'an array' : 'nested'}; Xyte takes flat scalar values`);
    }
    telemetry.push({ deviceId, body: body as XyteTelemetry['body'] });
  }

  function checkCommandUpdate(deviceId: string, body: unknown, correlationData: Buffer | undefined) {
    if (!isObject(body)) return violation('command-update', deviceId, 'command update is not a JSON object');
    const { id, status, message } = body;
    const command = typeof id === 'string' ? commands.get(id) : undefined;
    if (!command || command.deviceId !== deviceId) return violation('command-update', deviceId, `update for ${JSON.stringify(id)}, not a command sent to this device`);
    const commandId = id as string;
    if (!correlationData || !correlationData.equals(command.correlationData)) violation('correlation-data', deviceId, `update for ${commandId} without the command's correlation data`);
    if (status !== 'in_progress' && status !== 'done' && status !== 'failed') return violation('command-update', deviceId, `status ${JSON.stringify(status)} is not in_progress, done or failed`);
    const extra = Object.keys(body).filter((k) => !COMMAND_UPDATE_KEYS.has(k));
    if (extra.length > 0) violation('command-update', deviceId, `unknown keys ${extra.join(', ')}; only id, status, message`);
    if (message !== undefined && typeof message !== 'string') violation('command-update', deviceId, 'message is not a string');
    if (command.statuses.some((s) => s === 'done' || s === 'failed')) violation('command-order', deviceId, `${status} after the final status of ${commandId}`);
    else if (status !== 'in_progress' && !command.statuses.includes('in_progress')) violation('command-order', deviceId, `${status} for ${commandId} without in_progress first`);
    command.statuses.push(status);
    commandUpdates.push({ deviceId, commandId, status, ...(typeof message === 'string' ? { message } : {}), at: Date.now() });
  }

  // ---- devices ------------------------------------------------------------------------------
  const register = (device: XyteDeviceRecord) =>
    serialized(async () => {
      await passwd('-b', passwordFile, device.id, device.accessKey);
      await reload();
    });

  const addDevice = async (input: Omit<XyteDeviceRecord, 'id' | 'accessKey'> & { id?: string; accessKey?: string }): Promise<XyteDeviceRecord> => {
    const device: XyteDeviceRecord = { ...input, id: input.id ?? randomUUID(), accessKey: input.accessKey ?? randomBytes(32).toString('hex') };
    devices.set(device.id, device);
    deleted.delete(device.id);
    await register(device);
    return device;
  };

  // ---- HTTPS registration -------------------------------------------------------------------
  let hubUrl = '';
  const http: Server = createServer({ cert: options.pki.cert, key: options.pki.key }, (req, res) => {
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    const send = (status: number, body: unknown, headers: Record<string, string> = {}) => res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      if (path !== '/v1/devices') return send(404, { error: `no such endpoint: ${req.method ?? '?'} ${path}` });
      if (req.method !== 'POST') return send(405, { error: `method ${req.method ?? '?'} not allowed; POST to register` }, { allow: 'POST' });
      let recorded: unknown = text;
      const answer = (status: number, body: unknown) => {
        registrations.push({ body: recorded, status });
        send(status, body);
      };
      try {
        recorded = JSON.parse(text);
      } catch {
        return answer(422, { error: 'body: not JSON' });
      }
      const body = recorded;
      if (!isObject(body)) return answer(422, { error: 'body: not a JSON object' });
      const { sn, firmware_version: firmwareVersion, hardware_key: hardwareKey, mac, cloud_id: cloudId, name, details } = body;
      if (typeof sn !== 'string' || sn.trim() === '') return answer(422, { error: 'sn: required, a non-empty string' });
      if (typeof firmwareVersion !== 'string' || !SEMVER.test(firmwareVersion)) return answer(422, { error: `firmware_version: required, a semantic version x.y.z (got ${JSON.stringify(firmwareVersion ?? null)})` });
      if (typeof hardwareKey !== 'string' || hardwareKey === '') return answer(422, { error: 'hardware_key: required, a non-empty string' });
      if (mac === undefined && cloudId === undefined) return answer(422, { error: 'mac or cloud_id: one of them is required' });
      if (mac !== undefined && (typeof mac !== 'string' || !MAC.test(mac))) return answer(422, { error: `mac: not a MAC address aa:bb:cc:dd:ee:ff (got ${JSON.stringify(mac)})` });
      if (cloudId !== undefined && (typeof cloudId !== 'string' || cloudId === '')) return answer(422, { error: 'cloud_id: not a non-empty string' });
      if (name !== undefined && typeof name !== 'string') return answer(422, { error: 'name: not a string' });
      if (details !== undefined && !isObject(details)) return answer(422, { error: 'details: not a JSON object' });
      if (options.hardwareKeys && !options.hardwareKeys.includes(hardwareKey)) return answer(401, { error: 'hardware_key: unknown hardware key' });
      const taken = [...devices.values()].some(
        (d) => d.sn === sn || (typeof mac === 'string' && d.mac?.toLowerCase() === mac.toLowerCase()) || (typeof cloudId === 'string' && d.cloudId === cloudId),
      );
      if (taken) return answer(409, { error: 'device already registered' });
      // In the map before the first await, so a duplicate arriving meanwhile is refused too.
      const device: XyteDeviceRecord = {
        id: randomUUID(),
        accessKey: randomBytes(32).toString('hex'),
        sn,
        hardwareKey,
        firmwareVersion,
        ...(typeof mac === 'string' ? { mac } : {}),
        ...(typeof cloudId === 'string' ? { cloudId } : {}),
        ...(typeof name === 'string' ? { name } : {}),
      };
      devices.set(device.id, device);
      // The broker knows the credentials before the device does.
      register(device).then(
        () => answer(201, { id: device.id, access_key: device.accessKey, hub_url: hubUrl, hub_url_static_cert: hubUrl, mqtt_hub_url: mqttUrl }),
        (error: Error) => {
          devices.delete(device.id);
          answer(500, { error: `registration failed: ${error.message}` });
        },
      );
    });
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const httpPort = (http.address() as AddressInfo).port;
  hubUrl = `https://127.0.0.1:${httpPort}/v1/`;

  let stopped = false;
  return {
    registrationUrl: `https://127.0.0.1:${httpPort}/v1/devices`,
    mqttUrl,
    ca: options.pki.ca,
    devices: () => [...devices.values()],
    registrations,
    telemetry,
    commandUpdates,
    configUpdates,
    violations,
    brokerDenials,
    addDevice,
    deleteDevice(id) {
      if (!devices.has(id)) return Promise.reject(new Error(`xyte emulator: no device ${id} to delete`));
      devices.delete(id);
      deleted.add(id);
      // Mosquitto drops the device's connection itself while reloading (see the header).
      return serialized(async () => {
        await passwd('-D', passwordFile, id);
        await reload();
      });
    },
    async sendCommand(deviceId, name, parameters = {}, sendOptions = {}) {
      const id = randomUUID();
      const correlationData = randomBytes(16);
      commands.set(id, { deviceId, correlationData, statuses: [] });
      await observer.publishAsync(`v1/device/${deviceId}/${sendOptions.topic ?? 'commands'}`, JSON.stringify({ id, status: 'pending', name, parameters }), {
        qos: 1,
        properties: { responseTopic: `v1/device/${deviceId}/commands/update`, correlationData },
      });
      return id;
    },
    async pushConfig(deviceId, config) {
      const { version, ...rest } = config;
      await observer.publishAsync(`v1/device/${deviceId}/config`, JSON.stringify({ version, last_updated: new Date().toISOString(), ...rest }), { qos: 1 });
    },
    waitFor: (check, timeoutMs = 10_000, what = 'a condition') => until(check, timeoutMs, what),
    async stop() {
      if (stopped) return;
      stopped = true;
      await observer.endAsync(true).catch(() => undefined);
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      await broker.cleanup();
      if (existsSync(dir)) rmSync(dir, { recursive: true, force: true });
    },
  };
}
