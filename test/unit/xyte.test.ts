import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import { registrationRetryDelay } from '../../src/cloud/credentials/registration-backoff.ts';
import { parseCommand, parseConfigPush, telemetryBody } from '../../src/cloud/adapters/xyte/messages.ts';
import { captureLog } from '../helpers/capture-log.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'edge-agent-xyte-unit-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const credentials = { id: 'dev-1', accessKey: 'k'.repeat(32), mqttHubUrl: 'mqtts://hub.example:8883' };

function adapter(cloud: Record<string, unknown> = credentials, now = () => 1_700_000_000_000) {
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'xyte', ...cloud } }));
  if (config.cloud.provider !== 'xyte') throw new Error('expected xyte');
  return createAdapter(config.cloud, { agentId: 'gw', agentVersion: '0', dataDir, log: captureLog().log, now, clockSynchronized: () => true });
}

describe('xyte config', () => {
  it('needs registration or id + accessKey + mqttHubUrl, and mac or cloudId to register', () => {
    assert.throws(() => adapter({}), /cloud\.registration.*expected "registration"/s);
    assert.throws(() => adapter({ id: 'd' }), /cloud\.accessKey/);
    assert.throws(() => adapter({ id: 'd', accessKey: 'k' }), /cloud\.mqttHubUrl/);
    assert.throws(() => adapter({ registration: { sn: 'SN1', hardwareKey: 'hw' } }), /cloud\.registration\.mac/);
    assert.throws(() => adapter({ registration: { sn: 'SN1', hardwareKey: 'hw', mac: '12:34' } }), /MAC address/);
    assert.throws(() => adapter({ registration: { sn: 'SN1', hardwareKey: 'hw', cloudId: 'c', firmwareVersion: 'v1' } }), /semantic version/);
    adapter({ registration: { sn: 'SN1', hardwareKey: 'hw', mac: 'auto' } });
  });
});

describe('xyte messages', () => {
  it('sends a reading as flat telemetries with an ISO timestamp, leaving out nulls', () => {
    assert.deepEqual(telemetryBody({ id: 'gw-1', seq: 1, sensorId: 'boiler', ts: 1_700_000_000_000, values: { temp: 21.5, on: true, gone: null, bad: Number.NaN } }), {
      status: 'online',
      timestamp: '2023-11-14T22:13:20.000Z',
      telemetries: { 'boiler.temp': 21.5, 'boiler.on': true },
    });
    assert.equal(telemetryBody({ id: 'gw-1', seq: 1, sensorId: 's', ts: 5, values: { v: 1 }, clockUnsynced: true }).timestamp, undefined);
  });
  it('parses commands and says what is missing', () => {
    assert.deepEqual(parseCommand(Buffer.from('{"id":"c1","status":"pending","name":"ping","parameters":{"a":1}}')), { id: 'c1', name: 'ping', parameters: { a: 1 } });
    assert.deepEqual(parseCommand(Buffer.from('{"id":"c1"}')), { error: 'the command has no "name"', id: 'c1' });
    assert.deepEqual(parseCommand(Buffer.from('nope')), { error: 'the command is not JSON' });
    assert.deepEqual(parseConfigPush(Buffer.from('{"last_updated":"x"}')), { error: 'the config push has no numeric "version"' });
  });
  it('spreads registration retries between the configured bounds', () => {
    const min = 600_000;
    const max = 1_800_000;
    assert.equal(registrationRetryDelay(0, min, max, () => 0), min);
    assert.equal(registrationRetryDelay(1, min, max, () => 0.5), 1_200_000);
    assert.equal(registrationRetryDelay(10, min, max, () => 1), max);
  });
});

describe('xyte adapter', () => {
  it('connects with MQTT 5, clientId = username = id, and user properties on every publish', async () => {
    const options = await adapter().connectOptions();
    assert.equal(options.protocolVersion, 5);
    assert.equal(options.clientId, 'dev-1');
    assert.equal(options.username, 'dev-1');
    assert.equal(options.password, credentials.accessKey);
    assert.deepEqual(options.userPropertiesOnEveryPublish, { device_id: 'dev-1', access_key: credentials.accessKey });
  });
  it('answers a command on its response topic with its correlation data: in_progress, then done or failed', async () => {
    const a = adapter();
    await a.connectOptions();
    const correlationData = Buffer.from([1, 2, 3]);
    const [action] = a.decodeIncoming({ topic: 'v1/device/dev-1/commands', payload: Buffer.from('{"id":"c9","status":"pending","name":"ping","parameters":{}}'), properties: { responseTopic: 'v1/device/dev-1/commands/update', correlationData } });
    if (action?.kind !== 'command') return assert.fail('expected a command');
    const [accepted] = a.encodeAccepted!(action.command);
    assert.deepEqual(JSON.parse(accepted!.payload as string), { id: 'c9', status: 'in_progress' });
    assert.equal(accepted!.properties?.correlationData, correlationData);
    const [done] = a.encodeReply(action.command, { ok: true, status: 200, data: { pong: true } });
    assert.deepEqual(JSON.parse(done!.payload as string), { id: 'c9', status: 'done', message: '{"pong":true}' });
    const [failed] = a.encodeReply(action.command, { ok: false, status: 403, message: 'not allowed' });
    assert.deepEqual(JSON.parse(failed!.payload as string), { id: 'c9', status: 'failed', message: 'not allowed' });
    const [bad] = a.decodeIncoming({ topic: 'v1/device/dev-1/command', payload: Buffer.from('{"id":"c10"}') });
    assert.equal(bad?.kind, 'reply');
  });
  it('an accepted command (202, agent.update) stays in_progress until its late outcome, which survives a restart in JSON', async () => {
    const a = adapter();
    await a.connectOptions();
    const [action] = a.decodeIncoming({ topic: 'v1/device/dev-1/commands', payload: Buffer.from('{"id":"u1","status":"pending","name":"agent.update","parameters":{}}'), properties: { responseTopic: 'v1/device/dev-1/commands/update', correlationData: Buffer.from([7]) } });
    if (action?.kind !== 'command') return assert.fail('expected a command');
    assert.deepEqual(a.encodeReply(action.command, { ok: true, status: 202, data: { state: 'downloading' } }), []);
    // What the update state file keeps of the command, read back by the next run of the agent.
    const kept = JSON.parse(JSON.stringify(action.command), (_k, v: unknown) => (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data) : v)) as typeof action.command;
    const [late] = a.encodeReply(kept, { ok: false, status: 500, message: 'update to 0.2.0 rolled back', late: true });
    assert.deepEqual(JSON.parse(late!.payload as string), { id: 'u1', status: 'failed', message: 'update to 0.2.0 rolled back' });
    assert.deepEqual(late!.properties?.correlationData, Buffer.from([7]));
  });
  it('applies a config push only when its version is newer, and remembers it across restarts', async () => {
    const a = adapter();
    await a.connectOptions();
    const push = (version: number) => a.decodeIncoming({ topic: 'v1/device/dev-1/config', payload: Buffer.from(JSON.stringify({ version, last_updated: 'now', edgeAgent: { agent: { logLevel: 'debug' } } })) });
    const [first] = push(3);
    if (first?.kind !== 'config') return assert.fail('expected a config action');
    assert.deepEqual(first.patch, { agent: { logLevel: 'debug' } });
    const [echo] = a.encodeConfigResult!({ version: 3, replyTo: first.replyTo }, { applied: true });
    assert.equal(echo!.topic, 'v1/device/dev-1/config/update');
    assert.equal(JSON.parse(echo!.payload as string).version, 3);
    const restarted = adapter();
    await restarted.connectOptions();
    assert.equal(restarted.decodeIncoming({ topic: 'v1/device/dev-1/config', payload: Buffer.from('{"version":3}') })[0]?.kind, 'notice');
    const [refused] = restarted.encodeConfigResult!({ version: 4, replyTo: { push: { version: 4 } } }, { applied: false, message: 'agent.logLevel: bad' });
    assert.deepEqual(JSON.parse(refused!.payload as string).version, 3);
    assert.match(JSON.parse(refused!.payload as string).error, /version 4 refused: agent.logLevel: bad/);
  });
  it('sends a status heartbeat only when no telemetry went out for the heartbeat period', async () => {
    let now = 1_700_000_000_000;
    const a = adapter({ ...credentials, heartbeat: '30s' }, () => now);
    await a.connectOptions();
    assert.equal(a.heartbeat!.intervalMs, 15_000);
    assert.equal(a.heartbeat!.encode().length, 1);
    now += 10_000;
    assert.equal(a.heartbeat!.encode().length, 0);
    a.encodeTelemetry([{ id: 'x', seq: 1, sensorId: 's', ts: now, values: { v: 1 } }]);
    now += 14_000;
    assert.equal(a.heartbeat!.encode().length, 0);
    now += 2_000;
    assert.deepEqual(JSON.parse(a.heartbeat!.encode()[0]!.payload as string).telemetries, {});
  });
});
