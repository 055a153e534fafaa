// The Xyte emulator on its own, driven by a plain mqtt.js v5 client and HTTPS requests (not the
// agent), so a lax emulator fails here rather than letting a lax agent pass: registration and
// duplicates, Mosquitto refusing a wrong key, user properties, a command answered with its
// correlation data, and a deletion that drops the live connection and frees the serial number.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startXyteEmulator, type XyteEmulator } from '../emulators/xyte/xyte-emulator.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';

const HARDWARE_KEY = 'hw-emulator-test-key';

interface Registered {
  id: string;
  access_key: string;
  hub_url: string;
  hub_url_static_cert: string;
  mqtt_hub_url: string;
}

describe('xyte emulator', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let emulator: XyteEmulator;
  const clients: mqtt.MqttClient[] = [];

  before(async () => {
    pki = makeTestPki();
    emulator = await startXyteEmulator({ pki, hardwareKeys: [HARDWARE_KEY] });
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await emulator?.stop();
    pki?.cleanup();
  });

  const post = (body: unknown, url = emulator.registrationUrl) =>
    new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
      const req = request(url, { method: 'POST', ca: emulator.ca, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(typeof body === 'string' ? body : JSON.stringify(body));
    });
  const registration = { sn: 'EMU-0001', mac: 'B8:27:EB:00:00:01', firmware_version: '1.2.3', hardware_key: HARDWARE_KEY, name: 'emulator test' };
  const connect = (device: Registered, overrides: mqtt.IClientOptions = {}) => {
    const pending = mqtt.connectAsync(device.mqtt_hub_url, { clientId: device.id, username: device.id, password: device.access_key, protocolVersion: 5, reconnectPeriod: 0, ...overrides });
    return pending.then((client) => (clients.push(client), client));
  };
  const userProperties = (device: Registered) => ({ device_id: device.id, access_key: device.access_key });
  // A copy: deepEqual would narrow emulator.violations itself to never[].
  const noViolations = () => assert.deepEqual([...emulator.violations], []);
  const reasonCode = (error: unknown) => (error as { code?: number }).code;

  it('registers, connects, checks publishes, answers a command, and drops a deleted device', async () => {
    // Registration: field checks, then 201 with credentials, then the same sn refused.
    assert.equal((await post('{not json')).status, 422);
    const missingMac = await post({ ...registration, mac: undefined });
    assert.equal(missingMac.status, 422);
    assert.match(String(missingMac.body.error), /mac or cloud_id/);
    assert.equal((await post({ ...registration, firmware_version: 'v1' })).status, 422);
    assert.equal((await post({ ...registration, hardware_key: 'someone-elses' })).status, 401);
    const created = await post(registration);
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const device = created.body as unknown as Registered;
    assert.match(device.id, /^[0-9a-f-]{36}$/);
    assert.match(device.access_key, /^[0-9a-f]{32,}$/);
    assert.equal(device.mqtt_hub_url, emulator.mqttUrl);
    assert.equal(device.hub_url, device.hub_url_static_cert);
    const duplicate = await post({ ...registration, mac: 'b8:27:eb:00:00:99' });
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.error, 'device already registered');
    assert.equal((await post({ ...registration, sn: 'EMU-0002', mac: 'b8:27:eb:00:00:01' })).status, 409, 'the mac is taken too, in any case');
    assert.deepEqual(
      emulator.registrations.map((r) => r.status),
      [422, 422, 422, 401, 201, 409, 409],
    );

    // A correct telemetry publish; then one without the user properties.
    const client = await connect(device);
    const telemetryTopic = `v1/device/${device.id}/telemetry`;
    await client.publishAsync(telemetryTopic, JSON.stringify({ status: 'online', timestamp: new Date().toISOString(), telemetries: { 'sim.seq': 1, 'sim.ok': true, 'sim.name': 'a', 'sim.gap': null } }), {
      qos: 1,
      properties: { userProperties: userProperties(device) },
    });
    await emulator.waitFor(() => emulator.telemetry.length === 1, 5000, 'the telemetry');
    assert.deepEqual(emulator.telemetry[0]!.body.telemetries, { 'sim.seq': 1, 'sim.ok': true, 'sim.name': 'a', 'sim.gap': null });
    noViolations();
    await client.publishAsync(telemetryTopic, JSON.stringify({ status: 'online', telemetries: {} }), { qos: 1 });
    await emulator.waitFor(() => emulator.violations.length > 0, 5000, 'the user-properties violation');
    assert.deepEqual(
      emulator.violations.map((v) => [v.rule, v.deviceId]),
      [['user-properties', device.id]],
    );
    emulator.violations.length = 0;

    // A wrong key: Mosquitto refuses it (MQTT 5 reason 135) and its log shows the refusal.
    const denials = emulator.brokerDenials.length;
    await assert.rejects(connect(device, { clientId: `${device.id}-x`, password: 'not-the-key' }), (error) => reasonCode(error) === 135);
    await emulator.waitFor(() => emulator.brokerDenials.length > denials, 5000, 'the refusal in the broker log');
    assert.match(emulator.brokerDenials.at(-1)!, /Sending CONNACK to .* \(0, 135\)/);

    // A command: in_progress then done, on the response topic, with the correlation data.
    await client.subscribeAsync([`v1/device/${device.id}/commands`, `v1/device/${device.id}/command`], { qos: 1 });
    // The handler only records and answers: an assertion thrown in an event handler would not fail the test.
    const commands: { status: string }[] = [];
    client.on('message', (_topic, payload, packet) => {
      let command: { id: string; status: string; name: string; parameters: Record<string, unknown> };
      try {
        command = JSON.parse(payload.toString()) as typeof command;
      } catch {
        commands.push({ status: `(not JSON: ${payload.toString().slice(0, 80)})` });
        return;
      }
      commands.push(command);
      const { responseTopic, correlationData } = packet.properties ?? {};
      const reply = (status: string, message?: string) =>
        client.publishAsync(responseTopic!, JSON.stringify({ id: command.id, status, ...(message ? { message } : {}) }), { qos: 1, properties: { correlationData: correlationData!, userProperties: userProperties(device) } });
      void reply('in_progress').then(() => reply('done', `pong ${String(command.parameters.n)}`));
    });
    const commandId = await emulator.sendCommand(device.id, 'ping', { n: 7 });
    await emulator.waitFor(() => emulator.commandUpdates.some((u) => u.commandId === commandId && u.status === 'done'), 5000, 'the command to be done');
    for (const command of commands) assert.equal(command.status, 'pending');
    assert.deepEqual(
      emulator.commandUpdates.map((u) => [u.deviceId, u.commandId, u.status, u.message]),
      [
        [device.id, commandId, 'in_progress', undefined],
        [device.id, commandId, 'done', 'pong 7'],
      ],
    );
    noViolations();

    // Deleted in the portal: the live connection is dropped by the time deleteDevice resolves,
    // the key is refused from then on, and the serial number may register again.
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    await emulator.deleteDevice(device.id);
    await closed;
    assert.equal(client.connected, false);
    await assert.rejects(connect(device), (error) => reasonCode(error) === 135);
    assert.deepEqual(emulator.devices(), []);
    const again = await post(registration);
    assert.equal(again.status, 201, JSON.stringify(again.body));
    assert.notEqual((again.body as unknown as Registered).id, device.id);
    const reconnected = await connect(again.body as unknown as Registered);
    assert.equal(reconnected.connected, true);
    noViolations();
  });
});
