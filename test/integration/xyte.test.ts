// Xyte end to end against the emulator (an HTTPS registration server and a real Mosquitto speaking
// MQTT 5 with a password file and ACL): register -> connect -> every seq -> commands answered
// in_progress then done -> a config push applied and echoed; a duplicate registration refused;
// re-registration after the device is deleted; a wrong access key refused with backoff.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startXyteEmulator, type XyteEmulator } from '../emulators/xyte/xyte-emulator.ts';
import { CLI, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';
import { startWriteTargets, type WriteTargets } from '../helpers/write-targets.ts';

const HARDWARE_KEY = 'hw-model-7-key';
const COUNT = 60;

describe('xyte emulator rules (raw MQTT clients, so a lax emulator fails here)', { timeout: 60_000 }, () => {
  let pki: TestPki;
  let emulator: XyteEmulator;
  before(async () => {
    pki = makeTestPki();
    emulator = await startXyteEmulator({ pki, hardwareKeys: [HARDWARE_KEY] });
  });
  after(async () => {
    await emulator?.stop();
    pki?.cleanup();
  });

  it('refuses a wrong key, and flags MQTT 3.1.1, a clientId other than the id, missing user properties, bad shapes and foreign topics', async () => {
    const device = await emulator.addDevice({ sn: 'RAW-1', mac: 'b8:27:eb:aa:00:01', hardwareKey: HARDWARE_KEY, firmwareVersion: '1.0.0' });
    const connect = (options: mqtt.IClientOptions) => mqtt.connectAsync(emulator.mqttUrl, { clientId: device.id, username: device.id, password: device.accessKey, protocolVersion: 5, reconnectPeriod: 0, ...options });
    await assert.rejects(connect({ password: 'wrong' }), (error: Error & { code?: number }) => error.code === 134 || error.code === 135);

    // The emulator judges a CONNECT from Mosquitto's log line, written before the CONNACK. It judges
    // a publish when its observer receives it (recording telemetry or a command update, or a violation
    // that stops the judging), or, when the broker's ACL denies it, from the log line of the denial.
    const connectRules = new Set(['mqtt5', 'client-id']);
    const judged = () => emulator.telemetry.length + emulator.commandUpdates.length + emulator.violations.filter((v) => !connectRules.has(v.rule)).length;
    const rules = async (options: mqtt.IClientOptions, act: (client: mqtt.MqttClient) => Promise<unknown>) => {
      emulator.violations.length = 0;
      const before = judged();
      const client = await connect(options);
      await act(client).catch(() => undefined);
      await emulator.waitFor(() => judged() > before, 5000, 'the emulator to judge the publish');
      client.end(true);
      return emulator.violations.map((v) => v.rule);
    };
    const userProperties = { device_id: device.id, access_key: device.accessKey };
    const telemetry = (body: unknown, properties: mqtt.IClientPublishOptions['properties'] = { userProperties }) => (c: mqtt.MqttClient) => c.publishAsync(`v1/device/${device.id}/telemetry`, JSON.stringify(body), { qos: 1, properties });
    const good = { status: 'online', timestamp: new Date().toISOString(), telemetries: { 't.v': 1 } };

    assert.deepEqual(await rules({}, telemetry(good)), []);
    assert.deepEqual(await rules({ protocolVersion: 4 }, telemetry(good, {})), ['mqtt5', 'user-properties']);
    assert.deepEqual(await rules({ clientId: 'someone-else' }, telemetry(good)), ['client-id']);
    assert.deepEqual(await rules({}, telemetry(good, { userProperties: { device_id: device.id } })), ['user-properties']);
    assert.deepEqual(await rules({}, telemetry({ status: 'fine', telemetries: { a: { nested: 1 } }, extra: 1 })), ['telemetry', 'telemetry', 'telemetry']);
    assert.deepEqual(await rules({}, (c) => c.publishAsync('v1/device/another-device/telemetry', JSON.stringify(good), { qos: 1, properties: { userProperties } })), ['publish-acl']);
    const commandId = await emulator.sendCommand(device.id, 'ping');
    assert.deepEqual(
      await rules({}, (c) => c.publishAsync(`v1/device/${device.id}/commands/update`, JSON.stringify({ id: commandId, status: 'done' }), { qos: 1, properties: { userProperties } })),
      ['correlation-data', 'command-order'],
    );
  });
});

describe('xyte', { timeout: 120_000 }, () => {
  let pki: TestPki;
  let emulator: XyteEmulator;
  let agent: AgentProcess;
  let deviceId: string;
  let targets: WriteTargets;

  const registration = (sn: string, mac: string) => ({ url: emulator.registrationUrl, sn, hardwareKey: HARDWARE_KEY, mac, retryMin: '1s', retryMax: '2s' });
  const cloud = (extra: Record<string, unknown>) => ({ provider: 'xyte', tls: { ca: pki.caPath }, heartbeat: '5s', reconnectMax: '2s', ...extra });
  const seqsOf = (id: string) => new Set(emulator.telemetry.filter((t) => t.deviceId === id).map((t) => t.body.telemetries['sim.seq']));

  before(async () => {
    pki = makeTestPki();
    emulator = await startXyteEmulator({ pki, hardwareKeys: [HARDWARE_KEY] });
    targets = await startWriteTargets();
    agent = startAgent({
      cloud: cloud({ registration: registration('SN-0001', 'b8:27:eb:00:00:01') }),
      sensors: [{ id: 'sim', type: 'simulated', interval: '10ms', count: COUNT }, ...targets.sensors],
      commands: {
        allow: ['ping', 'status', 'config.get', 'config.set', 'sensor.read', 'serial.write', 'modbus.write', 'outbox.purge', 'script.echo', 'agent.restart'],
        scripts: { echo: { path: '/bin/echo', args: ['{word}'], params: { word: { pattern: '[a-z]+' } } } },
      },
    });
    const registered = await agent.waitForLog((l) => l.event === 'xyte-registered', 30_000);
    deviceId = registered.deviceId as string;
    await agent.waitForLog((l) => l.event === 'connected', 30_000);
  });
  after(async () => {
    await agent?.cleanup();
    await emulator?.stop();
    await targets?.cleanup();
    pki?.cleanup();
  });

  /** Runs a command through Xyte and resolves with its final update. */
  const run = async (name: string, parameters: Record<string, unknown> = {}) => {
    const id = await emulator.sendCommand(deviceId, name, parameters);
    await emulator.waitFor(() => emulator.commandUpdates.some((u) => u.commandId === id && u.status !== 'in_progress'), 10_000, `${name} to finish`);
    assert.deepEqual(emulator.commandUpdates.filter((u) => u.commandId === id).map((u) => u.status).slice(0, 1), ['in_progress']);
    return emulator.commandUpdates.find((u) => u.commandId === id && u.status !== 'in_progress')!;
  };

  it('registers once, keeps the credentials (0600) and delivers every seq as flat telemetries', async () => {
    assert.equal(emulator.registrations.filter((r) => r.status < 300).length, 1);
    const stored = join(agent.dataDir, 'xyte-credentials.json');
    assert.equal(statSync(stored).mode & 0o777, 0o600);
    assert.equal((JSON.parse(readFileSync(stored, 'utf8')) as { id: string }).id, deviceId);
    await emulator.waitFor(() => seqsOf(deviceId).size >= COUNT, 30_000, 'every seq');
    for (let seq = 1; seq <= COUNT; seq++) assert.ok(seqsOf(deviceId).has(seq), `seq ${seq} missing`);
    const sample = emulator.telemetry.find((t) => t.body.telemetries['sim.seq'] === 1)!;
    assert.equal(sample.body.status, 'online');
    assert.ok(!Number.isNaN(Date.parse(sample.body.timestamp!)));
    // Nothing more to send: the heartbeat keeps the device online.
    await emulator.waitFor(() => emulator.telemetry.some((t) => t.deviceId === deviceId && Object.keys(t.body.telemetries).length === 0), 15_000, 'a status heartbeat');
    assert.deepEqual(emulator.violations, []);
    assert.doesNotMatch(JSON.stringify(agent.logs), new RegExp(emulator.devices().find((d) => d.id === deviceId)!.accessKey));
  });

  it('answers commands in_progress, then done or failed, on the response topic with the correlation data', async () => {
    const statuses = (id: string) => emulator.commandUpdates.filter((u) => u.commandId === id).map((u) => u.status);
    const ping = await emulator.sendCommand(deviceId, 'ping');
    await emulator.waitFor(() => statuses(ping).includes('done'), 10_000, 'ping done');
    assert.deepEqual(statuses(ping), ['in_progress', 'done']);

    const viaSingular = await emulator.sendCommand(deviceId, 'status', {}, { topic: 'command' });
    await emulator.waitFor(() => statuses(viaSingular).includes('done'), 10_000, 'status done');

    const refused = await emulator.sendCommand(deviceId, 'system.reboot');
    await emulator.waitFor(() => statuses(refused).includes('failed'), 10_000, 'reboot refused');
    assert.deepEqual(statuses(refused), ['in_progress', 'failed']);
    assert.match(emulator.commandUpdates.find((u) => u.commandId === refused && u.status === 'failed')!.message ?? '', /not allowed/);
    assert.deepEqual(emulator.violations, []);
  });

  it('runs the built-ins in Xyte\'s format: results as JSON in the done message, failures with the reason', async () => {
    const config = await run('config.get');
    assert.equal(config.status, 'done');
    const shown = JSON.parse(config.message!) as { cloud: { provider: string; registration: { hardwareKey: unknown } } };
    assert.equal(shown.cloud.provider, 'xyte');
    assert.doesNotMatch(config.message!, new RegExp(HARDWARE_KEY), 'the hardware key is a secret');
    assert.equal((await run('config.set', { config: { outbox: { sync: 'sometimes' } } })).status, 'failed');
    const read = await run('sensor.read', { sensor: 'sim' });
    assert.equal(read.status, 'done', read.message);
    assert.equal((JSON.parse(read.message!) as { readings: unknown[] }).readings.length, 1);
    assert.equal((await run('serial.write', { sensor: 'display', text: 'XYTE' })).status, 'done');
    await emulator.waitFor(() => targets.serialReceived().includes('XYTE'), 5000, 'the serial write');
    assert.equal((await run('modbus.write', { sensor: 'plc', table: 'holding', address: 10, values: [777] })).status, 'done');
    assert.equal(targets.slave.units.get(3)!.holding[10], 777);
    assert.deepEqual(JSON.parse((await run('outbox.purge', { sensor: 'nobody' })).message!), { purged: 0 });
    assert.equal(JSON.parse((await run('script.echo', { word: 'hello' })).message!).stdout, 'hello\n');
    const injected = await run('script.echo', { word: 'hello; reboot' });
    assert.equal(injected.status, 'failed');
    assert.match(injected.message!, /word/);
    assert.deepEqual(emulator.violations, []);
  });

  it('applies a newer config push, echoes it, and ignores one that is not newer', async () => {
    await emulator.pushConfig(deviceId, { version: 2, last_updated: new Date().toISOString(), edgeAgent: { agent: { logLevel: 'info' } } });
    await emulator.waitFor(() => emulator.configUpdates.some((u) => (u.body as { version?: number }).version === 2), 10_000, 'config/update echo');
    await agent.waitForLog((l) => l.event === 'config-changed', 10_000);
    assert.equal((JSON.parse(readFileSync(agent.configPath, 'utf8')) as { agent: { logLevel: string } }).agent.logLevel, 'info');
    // Pushes sent before the new session has subscribed would be lost, and the checks below would pass without them.
    await agent.waitForLog((l) => l.event === 'subscribed' && agent.logs.indexOf(l) > agent.logs.findIndex((x) => x.event === 'config-changed'), 20_000);

    const echoes = emulator.configUpdates.length;
    const from = agent.logs.length;
    await emulator.pushConfig(deviceId, { version: 2, last_updated: new Date().toISOString(), edgeAgent: { agent: { logLevel: 'debug' } } });
    await emulator.pushConfig(deviceId, { version: 1, last_updated: new Date().toISOString() });
    // The agent says when it has decided to leave a push alone.
    const leftAlone = (version: number) => agent.waitForLog((l) => l.event === 'xyte-config-current' && l.version === version && agent.logs.indexOf(l) >= from, 10_000);
    await Promise.all([leftAlone(2), leftAlone(1)]);
    assert.equal(emulator.configUpdates.length, echoes, 'a push that is not newer is not applied');
    assert.equal((JSON.parse(readFileSync(agent.configPath, 'utf8')) as { agent: { logLevel: string } }).agent.logLevel, 'info');
    assert.deepEqual(emulator.violations, []);
  });

  it('`edge-agent register` prints the device id, and a duplicate registration is refused with what to do', async () => {
    // Asynchronously: the emulator answering the registration lives in this process.
    const register = (config: string) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'register', '--config', config], { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }));
      });
    const dir = mkdtempSync(join(tmpdir(), 'edge-agent-xyte-register-'));
    try {
      const write = (sn: string, mac: string, dataDir: string) => {
        const path = join(dir, `${sn}.json`);
        writeFileSync(path, JSON.stringify({ agent: { id: 'reg', dataDir }, cloud: cloud({ registration: registration(sn, mac) }) }));
        return path;
      };
      const fresh = await register(write('SN-0002', 'b8:27:eb:00:00:02', join(dir, 'data2')));
      assert.equal(fresh.status, 0, fresh.stderr);
      const id = /device id: (\S+)/.exec(fresh.stdout)?.[1];
      assert.ok(id && emulator.devices().some((d) => d.id === id), fresh.stdout);

      const again = await register(write('SN-0002', 'b8:27:eb:00:00:02', join(dir, 'data2')));
      assert.equal(again.status, 0);
      assert.match(again.stdout, /already registered/);

      const duplicate = await register(write('SN-0002', 'b8:27:eb:00:00:02', join(dir, 'data3')));
      assert.equal(duplicate.status, 78);
      assert.match(duplicate.stderr, /HTTP 409.*already registered.*delete the device in the Xyte portal/s);
      assert.ok(emulator.registrations.some((r) => r.status === 409));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('registers again when the device is deleted in the portal, and carries on under the new id', async () => {
    const oldId = deviceId;
    await emulator.deleteDevice(oldId);
    await agent.waitForLog((l) => l.event === 'xyte-device-deleted', 20_000);
    const registered = await agent.waitForLog((l) => l.event === 'xyte-registered' && l.deviceId !== oldId, 30_000);
    deviceId = registered.deviceId as string;
    await emulator.waitFor(() => emulator.telemetry.some((t) => t.deviceId === deviceId), 20_000, 'telemetry under the new id');
    assert.equal((JSON.parse(readFileSync(join(agent.dataDir, 'xyte-credentials.json'), 'utf8')) as { id: string }).id, deviceId);
    assert.deepEqual(emulator.violations, []);
  });

  it('a wrong access key in the config gives a clear error and backoff, never the key', async () => {
    const device = await emulator.addDevice({ sn: 'SN-0009', mac: 'b8:27:eb:00:00:09', hardwareKey: HARDWARE_KEY, firmwareVersion: '1.0.0' });
    const wrong = startAgent({ cloud: cloud({ id: device.id, accessKey: 'not-the-access-key', mqttHubUrl: emulator.mqttUrl }), sensors: [] });
    try {
      await wrong.waitForLog((l) => l.event === 'xyte-credentials-refused', 20_000);
      const refusals = () => wrong.logs.filter((l) => l.event === 'connect-refused');
      await wrong.waitForLog(() => refusals().length >= 2, 20_000);
      assert.match(refusals()[0]!.msg, /bad user ?name or password|not authorized/i);
      const scheduled = refusals();
      assert.ok(scheduled.length >= 1 && scheduled.every((l) => typeof l.delayMs === 'number' && l.delayMs >= 250), JSON.stringify(scheduled));
      assert.equal(wrong.logs.filter((l) => l.event === 'xyte-credentials-refused').length, 1, 'the hint is logged once per outage');
      assert.doesNotMatch(JSON.stringify(wrong.logs), /not-the-access-key/);
      assert.equal(wrong.logs.filter((l) => l.event === 'xyte-registered').length, 0, 'credentials from the config are never replaced by a registration');
    } finally {
      await wrong.cleanup();
    }
  });

  it('agent.restart answers done, then the agent exits 75 so systemd starts it again', async () => {
    const restart = await run('agent.restart');
    assert.equal(restart.status, 'done');
    assert.equal(await agent.exited, 75);
    assert.deepEqual(emulator.violations, []);
  });
});
