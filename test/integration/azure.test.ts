// The real agent against the IoT Hub emulator (TLS, SAS checked against the device key).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import azureDevice from 'azure-iot-device';
import azureDeviceMqtt from 'azure-iot-device-mqtt';
import { startAzureEmulator, type AzureEmulator } from '../emulators/azure/azure-emulator.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';

const HOST = 'testhub.azure-devices.net';
const KEY = Buffer.from('edge-agent test device key, 32b!').toString('base64');

describe('azure end to end', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let hub: AzureEmulator;
  const agents: AgentProcess[] = [];
  before(async () => {
    pki = makeTestPki([HOST]);
    hub = await startAzureEmulator({ host: HOST, devices: [{ deviceId: 'gw1', key: KEY }, { deviceId: 'gw2', key: KEY }, { deviceId: 'gw3', key: KEY }], tls: pki });
  });
  after(async () => {
    for (const agent of agents) await agent.cleanup();
    await hub.stop();
    pki.cleanup();
  });

  const agentFor = (deviceId: string, cloud: Record<string, unknown> = {}, sensor: Record<string, unknown> = {}) => {
    const agent = startAgent({
      cloud: { provider: 'azure', connectionString: `HostName=${HOST};DeviceId=${deviceId};SharedAccessKey=${KEY}`, url: hub.url, tls: { ca: pki.caPath }, reconnectMax: '2s', ...cloud },
      sensors: [{ id: 'room', type: 'simulated', interval: '20ms', ...sensor }],
      commands: { allow: ['ping', 'status'] },
    });
    agents.push(agent);
    return agent;
  };
  // Only the simulated sensor's readings: gateway health (once a minute) goes the same way.
  const seqsOf = (deviceId: string) => new Set(hub.telemetry.filter((t) => t.deviceId === deviceId).flatMap((t) => (t.body as { sensor: string; values: { seq: number } }[]).filter((i) => i.sensor === 'room').map((i) => i.values.seq)));

  it('connects, sends every reading, answers a direct method, applies a desired-property change and reports it', async () => {
    const agent = agentFor('gw1', {}, { count: 200 });
    await hub.waitFor(() => seqsOf('gw1').size >= 200, 20_000, 'all 200 readings');
    assert.deepEqual([...seqsOf('gw1')].sort((a, b) => a - b), Array.from({ length: 200 }, (_, i) => i + 1));
    const answer = await hub.invokeMethod('gw1', 'ping', {});
    assert.equal(answer.status, 200);
    assert.equal((answer.body as { pong: boolean }).pong, true);
    const refused = await hub.invokeMethod('gw1', 'system.reboot', {});
    assert.equal(refused.status, 403);
    await hub.pushDesired('gw1', { edgeAgent: { agent: { logLevel: 'warn' } } });
    await agent.waitForLog((l) => l.event === 'config-changed');
    await hub.waitFor(() => hub.reported.some((r) => JSON.stringify(r.body).includes('"applied":true')), 10_000, 'the applied config reported');
    await hub.pushDesired('gw1', { edgeAgent: { outbox: { sync: 'sometimes' } } });
    await hub.waitFor(() => hub.reported.some((r) => JSON.stringify(r.body).includes('outbox.sync')), 10_000, 'the refused change reported');
    assert.ok(hub.reported.some((r) => JSON.stringify(r.body).includes('"agentVersion"')), 'agent facts are reported');
    assert.deepEqual(hub.violations, []);
  });

  it('over WebSockets (wss, /$iothub/websocket, subprotocol mqtt): every reading and a direct method', async () => {
    const agent = agentFor('gw3', { transport: 'wss', url: hub.wssUrl }, { count: 100 });
    await hub.waitFor(() => seqsOf('gw3').size >= 100, 20_000, 'all 100 readings over wss');
    assert.deepEqual([...seqsOf('gw3')].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1));
    const answer = await hub.invokeMethod('gw3', 'ping', {});
    assert.equal(answer.status, 200);
    assert.deepEqual(hub.violations, []);
    await agent.stop();
  });

  it('renews a 20 s token three times without losing a reading', async () => {
    const agent = agentFor('gw2', { tokenTtl: '20s', tokenRenewBefore: '14s' }, { interval: '50ms' });
    // At start the agent discards any session the hub kept (one CONNECT), then connects for good; then three renewals.
    await hub.waitFor(() => hub.connections.filter((c) => c.deviceId === 'gw2').length >= 5, 40_000, 'three renewals');
    // Readings sent after the last renewal, so that "every reading up to the last one" spans all three.
    const sentBefore = hub.telemetry.filter((t) => t.deviceId === 'gw2').length;
    await hub.waitFor(() => hub.telemetry.filter((t) => t.deviceId === 'gw2').length > sentBefore, 10_000, 'telemetry over the renewed connection');
    await agent.stop();
    const seqs = seqsOf('gw2');
    const max = Math.max(...seqs);
    const missing = Array.from({ length: max }, (_, i) => i + 1).filter((s) => !seqs.has(s));
    assert.deepEqual(missing, [], 'every reading up to the last one sent arrived');
    assert.ok(agent.logs.filter((l) => l.event === 'credentials-renewal').length >= 3);
    assert.deepEqual(hub.violations, []);
  });

  it('a wrong key is refused with a clear error and backoff, not a tight loop', async () => {
    const agent = agentFor('gw1', { connectionString: `HostName=${HOST};DeviceId=gw1;SharedAccessKey=${Buffer.from('a wrong key').toString('base64')}`, reconnectMax: '1s' });
    // The window starts at the first refusal, not at the spawn: a slow start under load is not the backoff.
    await agent.waitForLog((l) => l.event === 'connect-refused', 20_000);
    // A window of the scenario, not a wait for an event: how many attempts fit in 5 s is what shows the backoff.
    await sleep(5000);
    const refusals = agent.logs.filter((l) => l.event === 'connect-refused');
    assert.ok(refusals.length >= 2 && refusals.length <= 20, `${refusals.length} attempts in 5 s after the first`);
    assert.match(String(refusals[0]!.msg), /not authorized/);
    assert.ok(refusals.every((l) => typeof l.delayMs === 'number'), 'each refusal says when the next attempt is');
    assert.equal(refusals.filter((l) => l.level === 'error').length, 1, 'the same refusal is an error once a minute, then debug');
    assert.ok(!JSON.stringify(agent.logs).includes('SharedAccessSignature'), 'no token in the logs');
    await agent.stop();
  });
});

// CommonJS packages whose named exports Node cannot detect statically.
const { Client: DeviceClient, Message, SharedAccessKeyAuthenticationProvider } = azureDevice;
const { Mqtt: AzureMqtt } = azureDeviceMqtt;

// The official device SDK against the same emulator: what it sends the hub accepts, so an emulator
// that refused it would be checking something the hub does not (and vice versa for the agent).
describe('the official Azure device SDK against the emulator', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let hub: AzureEmulator;
  before(async () => {
    pki = makeTestPki([HOST]);
    hub = await startAzureEmulator({ host: HOST, devices: [{ deviceId: 'sdk1', key: KEY }], tls: pki });
  });
  after(async () => {
    await hub.stop();
    pki.cleanup();
  });

  // GatewayHostName points the SDK's socket at the emulator's port; the username and the SAS
  // audience still name the hub (HostName), as they would behind a real gateway.
  // The transport is built here (as Client.fromConnectionString would) to wait on its subscriptions.
  const sdkClient = async (key: string) => {
    const transport = new AzureMqtt(SharedAccessKeyAuthenticationProvider.fromConnectionString(`HostName=${HOST};DeviceId=sdk1;SharedAccessKey=${key};GatewayHostName=${new URL(hub.url).host}`));
    const client = new DeviceClient(transport);
    await client.setOptions({ ca: pki.ca.toString() });
    return { client, transport };
  };

  it('connects with its own SAS token, sends telemetry and answers a direct method', async () => {
    const { client, transport } = await sdkClient(KEY);
    try {
      await client.open();
      client.onDeviceMethod('ping', (_request, response) => void response.send(200, { pong: 'sdk' }));
      const message = new Message(JSON.stringify([{ id: 'sdk1-1', seq: 1, sensor: 'sdk', ts: Date.now(), values: { t: 21.5 } }]));
      message.contentType = 'application/json';
      message.contentEncoding = 'utf-8';
      await client.sendEvent(message);
      await hub.waitFor(() => hub.telemetry.some((t) => t.deviceId === 'sdk1'), 10_000, 'the SDK telemetry');
      // onDeviceMethod subscribes in the background and reports only failures; the transport's own
      // enableMethods calls back on the SUBACK (subscribing again if the first has not come yet).
      await promisify(transport.enableMethods.bind(transport))();
      const answer = await hub.invokeMethod('sdk1', 'ping', {});
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.body, { pong: 'sdk' });
      assert.deepEqual(hub.violations, []);
    } finally {
      await client.close();
    }
  });

  it('is refused with a wrong key', async () => {
    const { client } = await sdkClient(Buffer.from('a wrong key').toString('base64'));
    const refused = await client.open().then(() => undefined, (error: unknown) => error as Error);
    await client.close().catch(() => undefined);
    assert.ok(refused, 'the SDK connected with a wrong key');
    await hub.waitFor(() => hub.refusals.some((r) => r.clientId === 'sdk1'), 5000, `a refusal (SDK said: ${refused.message}; refusals ${JSON.stringify(hub.refusals)})`);
  });
});
