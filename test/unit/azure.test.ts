import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { azureAdapter } from '../../src/cloud/adapters/azure.ts';
import { deviceSasToken, parseConnectionString, parseSasToken } from '../../src/cloud/adapters/azure/sas-token.ts';
import { ClockNotSynchronizedError } from '../../src/cloud/errors.ts';
import { ConfigError } from '../../src/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';

const KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

function adapter(cloud: Record<string, unknown> = {}, clockSynchronized = true) {
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'azure', connectionString: `HostName=myhub.azure-devices.net;DeviceId=device1;SharedAccessKey=${KEY}`, ...cloud } }));
  if (config.cloud.provider !== 'azure') throw new Error('expected azure');
  return azureAdapter.create(config.cloud, { agentId: 'gw', agentVersion: '0', dataDir: '/tmp', log: captureLog().log, now: () => 1_699_996_400_000, clockSynchronized: () => clockSynchronized });
}

describe('azure SAS', () => {
  // The token as https://learn.microsoft.com/azure/iot-hub/iot-hub-dev-guide-sas defines it; the expected
  // value is what the official SDK's SharedAccessSignature.create mints for the same inputs
  // (https://github.com/Azure/azure-iot-sdk-node/blob/main/common/core/src/shared_access_signature.ts).
  it('mints the SAS token the official Node SDK mints for the same hub, device, key and expiry, byte for byte', () => {
    assert.equal(deviceSasToken('myhub.azure-devices.net', 'device1', KEY, 1700000000), 'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice1&sig=gFSfLGMXDOvf906%2FiaX3KwzLLNFHgaFZyCbsGjxtd1Y%3D&se=1700000000');
    assert.deepEqual(parseSasToken(deviceSasToken('h', 'd', KEY, 5)), { sr: 'h%2Fdevices%2Fd', sig: parseSasToken(deviceSasToken('h', 'd', KEY, 5))!.sig, se: 5 });
  });
  it('parses connection strings in any order and case', () => {
    assert.deepEqual(parseConnectionString('DeviceId=d1;sharedaccesskey=abc=;HostName=h.azure-devices.net'), { hostName: 'h.azure-devices.net', deviceId: 'd1', sharedAccessKey: 'abc=' });
  });
});

describe('azure adapter', () => {
  it('connects as the hub requires, with a token renewed before expiry', async () => {
    const options = await adapter({ tokenTtl: '1h', tokenRenewBefore: '15m' }).connectOptions();
    assert.equal(options.url, 'mqtts://myhub.azure-devices.net:8883');
    assert.equal(options.clientId, 'device1');
    assert.equal(options.username, 'myhub.azure-devices.net/device1/?api-version=2021-04-12');
    assert.equal(options.protocolVersion, 4);
    assert.equal(options.password, 'SharedAccessSignature sr=myhub.azure-devices.net%2Fdevices%2Fdevice1&sig=gFSfLGMXDOvf906%2FiaX3KwzLLNFHgaFZyCbsGjxtd1Y%3D&se=1700000000');
    assert.equal(options.renewAt, 1_700_000_000_000 - 15 * 60_000);
    assert.equal((await adapter({ transport: 'wss' }).connectOptions()).url, 'wss://myhub.azure-devices.net:443/$iothub/websocket');
  });
  it('mints no token while the clock is unsynchronized', async () => {
    await assert.rejects(adapter({}, false).connectOptions(), ClockNotSynchronizedError);
  });
  it('refuses a keepalive above 1177 s and a renewal margin longer than the token', () => {
    assert.throws(() => adapter({ keepalive: 1200 }), (e: unknown) => e instanceof ConfigError && /cloud\.keepalive/.test(e.message));
    assert.throws(() => adapter({ tokenTtl: '10m', tokenRenewBefore: '15m' }), /tokenRenewBefore/);
  });
  it('turns direct methods into commands and answers with status and rid', () => {
    const a = adapter();
    const [action] = a.decodeIncoming({ topic: '$iothub/methods/POST/ping/?$rid=42', payload: Buffer.from('{"x":1}') });
    if (action?.kind !== 'command') return assert.fail('no command');
    assert.equal(action.command.name, 'ping');
    assert.deepEqual(action.command.params, { x: 1 });
    const [reply] = a.encodeReply(action.command, { ok: false, status: 404, message: 'unknown' });
    assert.equal(reply!.topic, '$iothub/methods/res/404/?$rid=42');
    assert.deepEqual(JSON.parse(reply!.payload as string), { error: 'unknown' });
    const [bad] = a.decodeIncoming({ topic: '$iothub/methods/POST/ping/?$rid=43', payload: Buffer.from('{') });
    assert.equal(bad?.kind, 'reply');
  });
  it('a late outcome (after a restart) goes to the twin, not to a method response the hub no longer waits for', () => {
    const a = adapter();
    const [action] = a.decodeIncoming({ topic: '$iothub/methods/POST/agent.update/?$rid=44', payload: Buffer.from('{}') });
    if (action?.kind !== 'command') return assert.fail('no command');
    const [accepted] = a.encodeReply(action.command, { ok: true, status: 202, data: { state: 'downloading' } });
    assert.equal(accepted!.topic, '$iothub/methods/res/202/?$rid=44');
    assert.deepEqual(a.encodeReply(action.command, { ok: true, status: 200, late: true }), []);
    const [facts] = a.encodeFacts!({ agentVersion: '0.2.0', link: 'connected', outboxPending: 0, configVersion: 1, agentUpdate: { version: '0.2.0', from: '0.1.0', outcome: 'installed', at: 1 } });
    assert.match(facts!.topic, /^\$iothub\/twin\/PATCH\/properties\/reported\//);
    assert.deepEqual(JSON.parse(facts!.payload as string).edgeAgent.agentUpdate, { version: '0.2.0', from: '0.1.0', outcome: 'installed', at: 1 });
  });
  it('reads desired properties from a twin GET and from patches', () => {
    const a = adapter();
    const [get] = a.onConnected!();
    const rid = get!.topic.split('$rid=')[1];
    const [fromGet] = a.decodeIncoming({ topic: `$iothub/twin/res/200/?$rid=${rid}`, payload: Buffer.from(JSON.stringify({ desired: { edgeAgent: { outbox: { sync: 'normal' } }, $version: 7 }, reported: {} })) });
    assert.deepEqual(fromGet, { kind: 'config', version: 7, patch: { outbox: { sync: 'normal' } }, replyTo: null });
    const [fromPatch] = a.decodeIncoming({ topic: '$iothub/twin/PATCH/properties/desired/?$version=8', payload: Buffer.from('{"edgeAgent":{"agent":{"logLevel":"debug"}},"$version":8}') });
    assert.equal(fromPatch?.kind, 'config');
  });
  it('sends telemetry as JSON arrays with the content-type property bag, below 256 KB', () => {
    const records = Array.from({ length: 5000 }, (_, i) => ({ id: `g-${i}`, seq: i + 1, sensorId: 's', ts: 1, values: { pad: 'x'.repeat(100) } }));
    const { messages } = adapter().encodeTelemetry(records);
    assert.ok(messages.length > 1);
    for (const m of messages) {
      assert.equal(m.topic, 'devices/device1/messages/events/$.ct=application%2Fjson&$.ce=utf-8');
      assert.ok(Buffer.byteLength(m.payload) < 256 * 1024);
      assert.equal(m.qos, 1);
    }
  });
});
