// The DPS emulator cross-checked with Microsoft's official provisioning client
// (azure-iot-provisioning-device + azure-iot-provisioning-device-mqtt): what the client sends, the
// emulator accepts and answers so that the client assigns, fails or backs off as it would against DPS.
// Then, with a plain mqtt.js client, the rules the SDK cannot break; and the hub emulator's run-time
// device identities that DPS assignment relies on.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { deviceSasToken } from '../../src/cloud/adapters/azure/sas-token.ts';
import { startAzureEmulator, type AzureEmulator } from '../emulators/azure/azure-emulator.ts';
import { startDpsEmulator, type DpsEmulator } from '../emulators/azure/dps-emulator.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';

const HOST = 'testhub.azure-devices.net';
const ID_SCOPE = '0ne00ABCDEF';
const GROUP_KEY = Buffer.from('edge-agent test group key, 32 b!').toString('base64');
const INDIVIDUAL_KEY = Buffer.from('edge-agent test device key, 32b!').toString('base64');
const REPO = fileURLToPath(new URL('../..', import.meta.url));

/** A group member's key, as the DPS docs derive it: base64(HMAC-SHA256(base64-decoded group key, registrationId)). */
const deriveKey = (groupKey: string, registrationId: string) => createHmac('sha256', Buffer.from(groupKey, 'base64')).update(registrationId, 'utf8').digest('base64');

// The official client runs in a child process: its MQTT transport takes no CA option, so the test CA
// comes in through NODE_EXTRA_CA_CERTS. It prints one JSON line: the registration state or the error.
const SDK_PROGRAM = `
import { readFileSync } from 'node:fs';
import provisioning from 'azure-iot-provisioning-device';
import provisioningMqtt from 'azure-iot-provisioning-device-mqtt';
import symmetricKey from 'azure-iot-security-symmetric-key';
import x509 from 'azure-iot-security-x509';
const o = JSON.parse(process.argv[1]);
const security = o.certPath
  ? new x509.X509Security(o.registrationId, { cert: readFileSync(o.certPath, 'utf8'), key: readFileSync(o.keyPath, 'utf8') })
  : new symmetricKey.SymmetricKeySecurityClient(o.registrationId, o.key);
const client = provisioning.ProvisioningDeviceClient.create(o.host, o.idScope, new provisioningMqtt.Mqtt(), security);
if (o.payload !== undefined) client.setProvisioningPayload(o.payload);
try {
  console.log(JSON.stringify({ ok: true, state: await client.register() }));
} catch (e) {
  console.log(JSON.stringify({ ok: false, error: e.name, message: e.message, body: e.result, topic: e.transportObject?.topic }));
}
`;

interface SdkOutcome {
  ok: boolean;
  state?: { registrationId: string; assignedHub: string; deviceId: string; status: string; substatus: string; payload?: unknown };
  error?: string;
  message?: string;
  body?: { errorCode?: number; message?: string };
  topic?: string;
}

describe('the DPS emulator', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let hub: AzureEmulator;
  let dps: DpsEmulator;
  let individualsOnly: DpsEmulator;
  let raw: DpsEmulator;
  before(async () => {
    pki = makeTestPki([HOST]);
    hub = await startAzureEmulator({ host: HOST, devices: [], tls: pki });
    dps = await startDpsEmulator({
      idScope: ID_SCOPE,
      tls: pki,
      hub,
      enrollments: [
        { kind: 'individual', registrationId: 'sdk-x509', x509: true, deviceId: 'x509-device' },
        { kind: 'group', groupId: 'gateways', key: GROUP_KEY },
      ],
    });
    individualsOnly = await startDpsEmulator({
      idScope: ID_SCOPE,
      tls: pki,
      hub,
      enrollments: [{ kind: 'individual', registrationId: 'sdk-one', key: INDIVIDUAL_KEY, deviceId: 'sdk-one-device', disabled: true }],
    });
    raw = await startDpsEmulator({ idScope: ID_SCOPE, tls: pki, hub, enrollments: [{ kind: 'group', groupId: 'raw', key: GROUP_KEY }] });
  });
  after(async () => {
    await Promise.all([dps?.stop(), individualsOnly?.stop(), raw?.stop()]);
    await hub?.stop();
    pki?.cleanup();
  });

  const sdkRegister = async (emulator: DpsEmulator, args: { registrationId: string; key?: string; certPath?: string; keyPath?: string; payload?: unknown }): Promise<SdkOutcome> => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', SDK_PROGRAM, JSON.stringify({ host: emulator.endpoint, idScope: ID_SCOPE, ...args })], {
      cwd: REPO,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caPath },
      timeout: 30_000,
    });
    return JSON.parse(stdout.trim().split('\n').at(-1)!) as SdkOutcome;
  };

  /** A plain MQTT 3.1.1 connection to the hub emulator with a device SAS token. */
  const hubConnect = (deviceId: string, key: string) =>
    mqtt.connectAsync(hub.url, {
      ca: pki.ca,
      clientId: deviceId,
      username: `${HOST}/${deviceId}/?api-version=2021-04-12`,
      password: deviceSasToken(HOST, deviceId, key, Math.floor(Date.now() / 1000) + 600),
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });

  const closed = (client: MqttClient) => new Promise<void>((resolve) => (client.connected ? client.once('close', () => resolve()) : resolve()));

  describe("Microsoft's provisioning client", () => {
    it('registers through a group enrollment with the derived key; the hub then takes that device and key', async () => {
      const key = deriveKey(GROUP_KEY, 'sdk-gw1');
      const outcome = await sdkRegister(dps, { registrationId: 'sdk-gw1', key });
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal(outcome.state!.status, 'assigned');
      assert.equal(outcome.state!.assignedHub, HOST);
      assert.equal(outcome.state!.deviceId, 'sdk-gw1');
      assert.equal(outcome.state!.substatus, 'initialAssignment');
      // register, one poll answered "assigning", the poll that gets the outcome
      assert.deepEqual(
        dps.requests.filter((r) => r.registrationId === 'sdk-gw1').map((r) => r.kind),
        ['register', 'poll', 'poll'],
      );
      assert.ok(hub.deviceIds().includes('sdk-gw1'));
      const device = await hubConnect('sdk-gw1', key);
      await device.endAsync();
      assert.deepEqual(dps.violations, []);
      assert.deepEqual(dps.refusals, []);
    });

    it('carries the custom allocation payload, and a second registration is a reprovisioning', async () => {
      const [withPayload, again] = await Promise.all([
        sdkRegister(dps, { registrationId: 'sdk-gw2', key: deriveKey(GROUP_KEY, 'sdk-gw2'), payload: { modelId: 'edge-agent', site: 7 } }),
        sdkRegister(dps, { registrationId: 'sdk-gw1', key: deriveKey(GROUP_KEY, 'sdk-gw1') }),
      ]);
      assert.equal(withPayload.ok, true, JSON.stringify(withPayload));
      assert.deepEqual(withPayload.state!.payload, { modelId: 'edge-agent', site: 7 });
      assert.deepEqual(dps.registrations.find((r) => r.registrationId === 'sdk-gw2')?.payload, { modelId: 'edge-agent', site: 7 });
      assert.equal(again.ok, true, JSON.stringify(again));
      assert.equal(again.state!.substatus, 'reprovisionedToInitialAssignment');
      assert.deepEqual(dps.violations, []);
    });

    it('fails as against DPS: a wrong group key is 401, an unknown registration 404, a disabled enrollment an error', async () => {
      const [wrongKey, unknown, disabled] = await Promise.all([
        sdkRegister(dps, { registrationId: 'sdk-wrong', key: deriveKey(Buffer.from('not the group key').toString('base64'), 'sdk-wrong') }),
        sdkRegister(individualsOnly, { registrationId: 'sdk-nobody', key: INDIVIDUAL_KEY }),
        sdkRegister(individualsOnly, { registrationId: 'sdk-one', key: INDIVIDUAL_KEY }),
      ]);
      assert.equal(wrongKey.ok, false);
      assert.equal(wrongKey.error, 'UnauthorizedError');
      assert.match(wrongKey.topic!, /^\$dps\/registrations\/res\/401\//);
      assert.equal(wrongKey.body?.errorCode, 401002);
      assert.equal(unknown.ok, false);
      assert.equal(unknown.error, 'DeviceNotFoundError');
      assert.match(unknown.topic!, /^\$dps\/registrations\/res\/404\//);
      // The SDK knows assigned, assigning, registering and failed; any other status is a SyntaxError.
      assert.equal(disabled.ok, false);
      assert.equal(disabled.message, 'status is disabled');
      assert.ok(dps.refusals.some((r) => r.clientId === 'sdk-wrong' && /does not verify/.test(r.reason)), JSON.stringify(dps.refusals));
      assert.ok(individualsOnly.refusals.some((r) => r.clientId === 'sdk-nobody' && /enrollment not found/.test(r.reason)));
      assert.ok(!hub.deviceIds().includes('sdk-one-device'));

      individualsOnly.setDisabled('sdk-one', false);
      const enabled = await sdkRegister(individualsOnly, { registrationId: 'sdk-one', key: INDIVIDUAL_KEY });
      assert.equal(enabled.ok, true, JSON.stringify(enabled));
      assert.equal(enabled.state!.deviceId, 'sdk-one-device');
      assert.ok(hub.deviceIds().includes('sdk-one-device'));
      assert.deepEqual([...dps.violations, ...individualsOnly.violations], []);
    });

    it('waits out a 429 retry-after and still registers', async () => {
      dps.throttle(1, 1);
      const outcome = await sdkRegister(dps, { registrationId: 'sdk-gw3', key: deriveKey(GROUP_KEY, 'sdk-gw3') });
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      const requests = dps.requests.filter((r) => r.registrationId === 'sdk-gw3');
      assert.deepEqual(
        requests.map((r) => r.kind),
        ['register', 'register', 'poll', 'poll'],
      );
      assert.ok(requests[1]!.at - requests[0]!.at >= 950, `registered again after ${requests[1]!.at - requests[0]!.at} ms`);
      assert.deepEqual(dps.violations, []);
    });

    it('registers with an X.509 client certificate whose CN is the registration id, and refuses another CN', async () => {
      const good = pki.client('sdk-x509');
      const other = pki.client('someone-else');
      // One after the other: DPS, like any MQTT server, drops a connection when another takes its clientId.
      const outcome = await sdkRegister(dps, { registrationId: 'sdk-x509', certPath: good.certPath, keyPath: good.keyPath });
      const refused = await sdkRegister(dps, { registrationId: 'sdk-x509', certPath: other.certPath, keyPath: other.keyPath });
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.equal(outcome.state!.deviceId, 'x509-device');
      assert.equal(refused.error, 'UnauthorizedError');
      assert.ok(dps.refusals.some((r) => /CN someone-else is not the registration id/.test(r.reason)), JSON.stringify(dps.refusals));
      assert.deepEqual(dps.violations, []);
    });
  });

  describe('rules checked with a plain MQTT client', () => {
    interface Answer {
      status: number;
      rid: string;
      retryAfter?: number;
      body: { operationId?: string; status?: string; errorCode?: number; registrationState?: { status: string; deviceId: string } };
    }
    const sas = (registrationId: string, key: string, o: { encodeSr?: boolean; se?: number; skn?: string } = {}) => {
      const resource = `${ID_SCOPE}/registrations/${registrationId}`;
      const sr = o.encodeSr ? encodeURIComponent(resource) : resource;
      const se = o.se ?? Math.floor(Date.now() / 1000) + 600;
      const sig = encodeURIComponent(createHmac('sha256', Buffer.from(key, 'base64')).update(`${sr}\n${se}`).digest('base64'));
      return `SharedAccessSignature sr=${sr}&sig=${sig}&se=${se}&skn=${o.skn ?? 'registration'}`;
    };
    const connectRaw = (registrationId: string, o: { password?: string; clientId?: string; username?: string; url?: string; protocolVersion?: 3 | 4 } = {}) =>
      mqtt.connectAsync(o.url ?? raw.url, {
        ca: pki.ca,
        clientId: o.clientId ?? registrationId,
        username: o.username ?? `${ID_SCOPE}/registrations/${registrationId}/api-version=2019-03-31&ClientVersion=edge-agent-test`,
        password: o.password ?? sas(registrationId, deriveKey(GROUP_KEY, registrationId)),
        ...(o.protocolVersion === 3 ? { protocolId: 'MQIsdp', protocolVersion: 3 } : { protocolVersion: 4 }),
        reconnectPeriod: 0,
        connectTimeout: 5000,
        clean: true,
      });
    /** A connected, subscribed device that sends requests and waits for the answer with the same $rid. */
    const rawDevice = async (registrationId: string, o: Parameters<typeof connectRaw>[1] = {}) => {
      const client = await connectRaw(registrationId, o);
      await client.subscribeAsync('$dps/registrations/res/#', { qos: 1 });
      const answers: Answer[] = [];
      const waiting = new Map<string, (a: Answer) => void>();
      client.on('message', (topic, payload) => {
        const match = /^\$dps\/registrations\/res\/(\d+)\/\?(.*)$/.exec(topic);
        if (!match) return;
        const query = new URLSearchParams(match[2]);
        const retryAfter = query.get('retry-after');
        const answer: Answer = { status: Number(match[1]), rid: query.get('$rid')!, ...(retryAfter ? { retryAfter: Number(retryAfter) } : {}), body: JSON.parse(payload.toString('utf8')) };
        answers.push(answer);
        waiting.get(answer.rid)?.(answer);
      });
      let rid = 0;
      const send = (topic: (rid: string) => string, body: string | Buffer) => {
        const id = String(++rid);
        const answer = new Promise<Answer>((resolve) => waiting.set(id, resolve));
        void client.publishAsync(topic(id), body, { qos: 1 });
        return answer;
      };
      return {
        client,
        answers,
        register: (body: unknown = { registrationId }) => send((id) => `$dps/registrations/PUT/iotdps-register/?$rid=${id}`, typeof body === 'string' ? body : JSON.stringify(body)),
        poll: (operationId: string) => send((id) => `$dps/registrations/GET/iotdps-get-operationstatus/?$rid=${id}&operationId=${operationId}`, ' '),
      };
    };

    it('accepts a URL-encoded sr; a poll sooner than the retry-after is a violation answered 429', async () => {
      const device = await rawDevice('raw-encoded', { password: sas('raw-encoded', deriveKey(GROUP_KEY, 'raw-encoded'), { encodeSr: true }) });
      try {
        const accepted = await device.register();
        assert.equal(accepted.status, 202);
        assert.equal(accepted.retryAfter, 1);
        assert.equal(accepted.body.status, 'assigning');
        const tooSoon = await device.poll(accepted.body.operationId!);
        assert.equal(tooSoon.status, 429);
        assert.equal(tooSoon.retryAfter, 1);
        assert.ok(raw.violations.some((v) => v.rule === 'retry-after' && v.clientId === 'raw-encoded'));
        // The wait is the scenario: a device that waits out the 1 s retry-after is answered, not throttled.
        await sleep(1050);
        const assigning = await device.poll(accepted.body.operationId!);
        assert.equal(assigning.status, 202);
        await sleep(1050);
        const assigned = await device.poll(accepted.body.operationId!);
        assert.equal(assigned.status, 200);
        assert.equal(assigned.body.registrationState?.deviceId, 'raw-encoded');
        assert.equal(raw.violations.filter((v) => v.clientId === 'raw-encoded').length, 1);
      } finally {
        await device.client.endAsync();
      }
    });

    it('answers bad credentials with 401 and another ID scope with 404, after accepting the CONNECT', async () => {
      const key = deriveKey(GROUP_KEY, 'raw-auth');
      const cases: [string, Parameters<typeof connectRaw>[1], number, RegExp][] = [
        ['wrong skn', { password: sas('raw-auth', key, { skn: 'device' }) }, 401, /skn is device/],
        ['expired', { password: sas('raw-auth', key, { se: Math.floor(Date.now() / 1000) - 1 }) }, 401, /expired/],
        ['sr of another device', { password: sas('raw-auth', key).replace('registrations/raw-auth', 'registrations/raw-other') }, 401, /does not decode to/],
        ['another scope', { username: '0ne00FFFFFF/registrations/raw-auth/api-version=2019-03-31' }, 404, /no DPS instance with ID scope/],
      ];
      for (const [what, options, status, reason] of cases) {
        const before = raw.refusals.length;
        const device = await rawDevice('raw-auth', options);
        try {
          const answer = await device.register();
          assert.equal(answer.status, status, what);
          assert.equal(answer.retryAfter, undefined, what);
          assert.equal(String(answer.body.errorCode).length, 6, what);
          assert.match(raw.refusals.slice(before).map((r) => r.reason).join('\n'), reason, what);
        } finally {
          await device.client.endAsync();
        }
      }
    });

    it('refuses the CONNECT for a clientId that is not the registration id, a malformed username or MQTT 3.1', async () => {
      await assert.rejects(connectRaw('raw-connect', { clientId: 'someone-else' }), (e: { code?: number }) => e.code === 2);
      await assert.rejects(connectRaw('raw-connect', { username: `${ID_SCOPE}/raw-connect/api-version=2019-03-31` }), (e: { code?: number }) => e.code === 5);
      await assert.rejects(connectRaw('raw-connect', { protocolVersion: 3 }));
      const reasons = raw.refusals.filter((r) => r.clientId === 'raw-connect' || r.clientId === 'someone-else').map((r) => r.reason);
      assert.equal(reasons.length, 3, reasons.join('\n'));
      assert.match(reasons.join('\n'), /is not the registration id/);
      assert.match(reasons.join('\n'), /protocol level 3/);
    });

    it('a QoS 2 publish closes the link; a subscription to another topic is refused; both are violations', async () => {
      const device = await rawDevice('raw-qos');
      await assert.rejects(device.client.subscribeAsync('devices/raw-qos/messages/devicebound/#', { qos: 1 }), (e: { packet?: { granted?: number[] } }) => e.packet?.granted?.[0] === 128);
      assert.ok(raw.violations.some((v) => v.clientId === 'raw-qos' && v.rule === 'subscribe'));
      const gone = closed(device.client);
      device.client.publish(`$dps/registrations/PUT/iotdps-register/?$rid=1`, JSON.stringify({ registrationId: 'raw-qos' }), { qos: 2 });
      await gone;
      assert.ok(raw.violations.some((v) => v.clientId === 'raw-qos' && v.rule === 'qos'));
      device.client.end(true);
    });

    it('answers a bad register body 400 and an unknown operation 404; closes the link on an unknown topic', async () => {
      const device = await rawDevice('raw-body');
      try {
        assert.equal((await device.register({ registrationId: 'raw-other' })).status, 400);
        assert.equal((await device.register('not json')).status, 400);
        assert.equal((await device.register({ registrationId: 'raw-body', payload: 'x'.repeat(17 * 1024) })).status, 400);
        const unknown = await device.poll('4.0000000000000000.no-such-operation');
        assert.equal(unknown.status, 404);
        assert.ok(raw.violations.some((v) => v.clientId === 'raw-body' && v.rule === 'operation'));
        const gone = closed(device.client);
        device.client.publish('$dps/registrations/PUT/iotdps-other/?$rid=9', '{}', { qos: 1 });
        await gone;
        assert.ok(raw.violations.some((v) => v.clientId === 'raw-body' && v.rule === 'topic'));
      } finally {
        device.client.end(true);
      }
    });

    it('speaks MQTT over WebSockets at /$iothub/websocket, and nowhere else', async () => {
      const device = await rawDevice('raw-wss', { url: raw.wssUrl });
      try {
        assert.equal((await device.register()).status, 202);
      } finally {
        await device.client.endAsync();
      }
      const upgradeStatus = (url: string, protocol: string) =>
        new Promise<number>((resolve) => {
          const socket = new WebSocket(url, protocol, { ca: pki.ca });
          socket.on('error', () => {}); // the refused upgrade, reported below
          socket.once('unexpected-response', (req, res) => (resolve(res.statusCode ?? 0), req.destroy()));
          socket.once('open', () => (resolve(101), socket.terminate()));
        });
      assert.equal(await upgradeStatus(raw.wssUrl.replace('/$iothub/websocket', '/mqtt'), 'mqtt'), 400);
      assert.equal(await upgradeStatus(raw.wssUrl, 'mqttv3.1'), 400);
      assert.deepEqual(
        raw.violations.filter((v) => v.rule === 'websocket').map((v) => v.detail),
        ['path /mqtt, not /$iothub/websocket', 'subprotocol "mqttv3.1", not mqtt'],
      );
    });
  });

  describe('the hub emulator: device identities at run time', () => {
    it('adds, lists and revokes a device; a revoked device is disconnected at once and refused after', async () => {
      const key = Buffer.from('a key made at run time, 32 bytes').toString('base64');
      hub.addDevice({ deviceId: 'runtime-1', key });
      assert.ok(hub.deviceIds().includes('runtime-1'));
      const device = await hubConnect('runtime-1', key);
      const gone = closed(device);
      hub.removeDevice('runtime-1');
      await gone;
      assert.ok(!hub.deviceIds().includes('runtime-1'));
      device.end(true);
      await assert.rejects(hubConnect('runtime-1', key), (e: { code?: number }) => e.code === 5);
      // Replacing a device's key: the new key is the one that works.
      const newKey = Buffer.from('the replacement key for device 2').toString('base64');
      hub.addDevice({ deviceId: 'runtime-2', key });
      hub.addDevice({ deviceId: 'runtime-2', key: newKey });
      await assert.rejects(hubConnect('runtime-2', key), (e: { code?: number }) => e.code === 5);
      await (await hubConnect('runtime-2', newKey)).endAsync();
    });
  });
});
