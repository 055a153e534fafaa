// The CloudAdapter contract (test/helpers/adapter-contract.ts), run against all five adapters of the
// registry. Where a cloud's emulator exposes its payload rules as pure functions (Waylay:
// test/emulators/waylay/payload-rules.ts), every telemetry message and reply is checked against
// them too; the Azure, Alibaba and Xyte emulators check inside their brokers only.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { parseConfigText } from '../../src/agent-config/load.ts';
import type { AdapterContext, CloudAdapter } from '../../src/cloud/adapter.ts';
import { storedSecretPath } from '../../src/cloud/adapters/alibaba/dynamic-registration.ts';
import { ASSIGNMENT_FILE } from '../../src/cloud/adapters/azure/assignment.ts';
import { attestationFingerprint, attestationOf } from '../../src/cloud/adapters/azure/provisioning.ts';
import { adapterDefinitions, createAdapter } from '../../src/cloud/adapters/index.ts';
import { storeCredentials } from '../../src/cloud/adapters/xyte/registration.ts';
import { deviceStore } from '../../src/cloud/credentials/device-store.ts';
import type { OutgoingMessage } from '../../src/cloud/message.ts';
import { checkWaylayPayload } from '../emulators/waylay/payload-rules.ts';
import { batchPostProblem } from '../emulators/alibaba/alibaba-emulator.ts';
import { address, adapterContract, CONTRACT_NOW, type ReadReply } from '../helpers/adapter-contract.ts';

/** Builds the provider's adapter from a cloud section parsed as the agent parses its config file. */
function factory(cloud: Record<string, unknown>) {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'gw-1' }, cloud }));
  assert.ok(adapterDefinitions.some((d) => d.provider === config.cloud.provider), `no adapter for ${String(cloud.provider)}`);
  // Through the registry, as the agent builds it: a cloud's credentials part runs behind connectOptions.
  return (ctx: AdapterContext): CloudAdapter => createAdapter(config.cloud, ctx);
}

/** The fields the clouds' replies and readings are read by. */
interface Body {
  id?: string;
  ok?: boolean;
  commandId?: string;
  status?: string;
  code?: number;
  seq?: number;
  telemetries?: Record<string, unknown>;
}
const json = (message: OutgoingMessage) => JSON.parse(message.payload.toString()) as Body;
const jsonArray = (message: OutgoingMessage) => JSON.parse(message.payload.toString()) as Body[];
const bytes = (body: unknown) => Buffer.from(JSON.stringify(body));
/** The seq the contract's readings also carry as the value `n`, under whatever key the cloud gives it. */
const seqsFromKeys = (objects: Record<string, unknown>[]) => objects.flatMap((o) => Object.entries(o).filter(([key]) => key.endsWith('.n')).map(([, value]) => value as number));
const CORRELATION = Buffer.from([0, 1, 2, 0xff]);

// Generic MQTT: commands topic and replies topic, or the MQTT 5 response topic and correlation data.
{
  const replyTo = (r: { topic: string; properties?: { responseTopic?: string; correlationData?: Buffer } }) => address(r.properties?.responseTopic ?? 'edge-agent/gw-1/replies', r.properties?.correlationData);
  const message = (c: { id: string; name: string; params: unknown }) => ({ topic: 'edge-agent/gw-1/commands', payload: bytes(c) });
  adapterContract('mqtt', {
    create: factory({ provider: 'mqtt', url: 'mqtts://broker.example.com:8883', username: 'gw-user', password: 'mqtt-password-secret', protocolVersion: 5 }),
    secrets: ['mqtt-password-secret'],
    channels: [
      { label: 'commands topic', message, malformed: (id) => ({ topic: 'edge-agent/gw-1/commands', payload: bytes({ id }) }), replyAddress: replyTo },
      {
        label: 'MQTT 5 response topic',
        message: (c) => ({ ...message(c), properties: { responseTopic: 'app/replies/gw-1', correlationData: CORRELATION } }),
        malformed: (id) => ({ topic: 'edge-agent/gw-1/commands', payload: bytes({ id, name: 5 }), properties: { responseTopic: 'app/replies/gw-1', correlationData: CORRELATION } }),
        replyAddress: replyTo,
      },
    ],
    unrelatedTopics: ['edge-agent/gw-1/replies', 'edge-agent/gw-2/commands', 'edge-agent/gw-1/telemetry/boiler', '$SYS/broker/uptime', ''],
    readTelemetrySeqs: (m) => jsonArray(m).map((item) => item.seq!),
    readReply: (m): ReadReply => ({ address: address(m.topic, m.properties?.correlationData), id: json(m).id ?? null, ok: json(m).ok === true }),
    unsyncedClock: 'connects',
  });
}

// Waylay: a resource has an events channel and a commands channel, and no reply topic
// (https://docs.waylay.io/api/broker-and-storage/, "Events and commands"): results go back as events,
// which the adapter marks with the command's "commandId".
{
  const commands = 'app.waylay.io/resources/pump-7/commands';
  const events = 'app.waylay.io/resources/pump-7/events';
  adapterContract('waylay', {
    create: factory({ provider: 'waylay', url: 'mqtts://broker.example.io', resourceId: 'pump-7', username: 'dev-user', password: 'waylay-password-secret', domain: 'app.waylay.io' }),
    secrets: ['waylay-password-secret'],
    channels: [{ label: 'commands topic', message: (c) => ({ topic: commands, payload: bytes({ command: c.name, args: c.params, id: c.id }) }), malformed: (id) => ({ topic: commands, payload: bytes({ id, args: {} }) }), replyAddress: () => events }],
    unrelatedTopics: [events, 'app.waylay.io/resources/other/commands', 'waylay/pump-7/commands', ''],
    readTelemetrySeqs: (m) => seqsFromKeys(jsonArray(m) as Record<string, unknown>[]),
    readReply: (m): ReadReply => ({ address: m.topic, id: json(m).commandId ?? null, ok: json(m).status === 'ok' }),
    payloadProblems: (m) => checkWaylayPayload(Buffer.from(m.payload), 'pump-7').problems,
    unsyncedClock: 'connects',
  });
}

// Azure IoT Hub: direct methods answered on $iothub/methods/res/{status}/?$rid={rid}; cloud-to-device messages have no reply channel.
{
  const KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
  const GROUP_KEY = Buffer.from('edge-agent contract: group key!!').toString('base64');
  // DPS is reached over MQTT (dps-client.ts), not HTTPS; a closed port refuses it at once all the same.
  const dps = { provider: 'azure', provisioning: { idScope: '0ne00C0A7C', groupKey: GROUP_KEY, endpoint: '127.0.0.1:9' } };
  const ridOf = (topic: string) => /\?\$rid=(.*)$/.exec(topic)?.[1] ?? '';
  adapterContract('azure', {
    create: factory({ provider: 'azure', connectionString: `HostName=myhub.azure-devices.net;DeviceId=device1;SharedAccessKey=${KEY}` }),
    selfRegistering: {
      create: factory(dps),
      // What credentials.ts keeps after DPS assigned this gateway (registration id = agent id): the hub, the device id and the key's fingerprint.
      seedRegistered(dataDir) {
        const { config } = parseConfigText(JSON.stringify({ agent: { id: 'gw-1' }, cloud: dps }));
        if (config.cloud.provider !== 'azure' || !config.cloud.provisioning) throw new Error('expected azure with provisioning');
        const attestation = attestationFingerprint(attestationOf(config.cloud.provisioning, 'gw-1', undefined));
        deviceStore(dataDir).write(ASSIGNMENT_FILE, { idScope: '0ne00C0A7C', registrationId: 'gw-1', attestation, assignedHub: 'hub-b.azure-devices.net', deviceId: 'gw-1', assignedAt: CONTRACT_NOW - 86_400_000 });
      },
    },
    secrets: [KEY, GROUP_KEY],
    channels: [
      {
        label: 'direct method',
        message: (c) => ({ topic: `$iothub/methods/POST/${c.name}/?$rid=${c.id}`, payload: bytes(c.params) }),
        malformed: (id) => ({ topic: `$iothub/methods/POST/ping/?$rid=${id}`, payload: Buffer.from('{"a":') }),
        replyAddress: (r) => `$iothub/methods/res/?$rid=${ridOf(r.topic)}`,
      },
      { label: 'cloud-to-device', message: (c) => ({ topic: 'devices/device1/messages/devicebound/%24.to=%2Fdevices%2Fdevice1%2Fmessages%2FdeviceBound', payload: bytes(c) }), replyAddress: () => null },
    ],
    unrelatedTopics: ['$iothub/twin/res/200/?$rid=get1', '$iothub/twin/res/404/?$rid=r2', '$iothub/twin/PATCH/properties/desired/?$version=3', '$iothub/methods/res/200/?$rid=1', 'devices/device2/messages/devicebound/x', ''],
    readTelemetrySeqs: (m) => jsonArray(m).map((item) => item.seq!),
    readReply(m): ReadReply {
      const match = /^\$iothub\/methods\/res\/(\d{3})\/\?\$rid=(.+)$/.exec(m.topic);
      return match ? { address: `$iothub/methods/res/?$rid=${match[2]}`, id: match[2]!, ok: Number(match[1]) < 300 } : { address: m.topic, id: null, ok: false };
    },
    unsyncedClock: 'refuses',
  });
}

// Alibaba: service calls answered on {topic}_reply, RRPC on rrpc/response/{messageId}, Alink {id, code, data}.
{
  const base = '/sys/a1B2c3D4e5F/gw-001';
  const device = { provider: 'alibaba', productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', regionId: 'cn-shanghai' };
  const deviceSecret = '0123456789abcdef0123456789abcdef';
  const alink = (id: string, method: string, params: unknown) => bytes({ id, version: '1.0', params, method });
  const identifier = (name: string) => name.replace('.', '_');
  adapterContract('alibaba', {
    create: factory({ ...device, deviceSecret }),
    selfRegistering: {
      create: factory({ ...device, productSecret: 'alibaba-product-secret', registrationUrl: 'https://127.0.0.1:9/auth/register/device' }),
      seedRegistered: (dataDir) => writeFileSync(storedSecretPath(dataDir), JSON.stringify({ productKey: device.productKey, deviceName: device.deviceName, deviceSecret }), { mode: 0o600 }),
    },
    secrets: [deviceSecret, 'alibaba-product-secret'],
    channels: [
      {
        label: 'service call',
        message: (c) => ({ topic: `${base}/thing/service/${identifier(c.name)}`, payload: alink(c.id, `thing.service.${identifier(c.name)}`, c.params) }),
        // A service the thing model could not have: its name is longer than any command's.
        malformed: (id) => ({ topic: `${base}/thing/service/${'s'.repeat(200)}`, payload: alink(id, `thing.service.${'s'.repeat(200)}`, {}) }),
        replyAddress: (r) => `${r.topic}_reply`,
      },
      { label: 'property set', fixedName: 'property.set', message: (c) => ({ topic: `${base}/thing/service/property/set`, payload: alink(c.id, 'thing.service.property.set', c.params) }), replyAddress: (r) => `${r.topic}_reply` },
      {
        label: 'RRPC',
        message: (c) => ({ topic: `${base}/rrpc/request/1744100000001`, payload: alink(c.id, `thing.service.${identifier(c.name)}`, c.params) }),
        malformed: (id) => ({ topic: `${base}/rrpc/request/1744100000002`, payload: bytes({ id, version: '1.0', params: {} }) }),
        replyAddress: (r) => r.topic.replace('/rrpc/request/', '/rrpc/response/'),
      },
    ],
    unrelatedTopics: [`${base}/thing/event/property/post_reply`, `${base}/thing/service/property/set_reply`, `${base}/rrpc/response/1`, '/sys/other/device/thing/service/ping', ''],
    // A batch post carries no per-reading id: the contract's readings carry their seq as the property n.
    readTelemetrySeqs: (m) =>
      m.topic.endsWith('/batch/post')
        ? Object.entries((JSON.parse(m.payload.toString()) as { params: { properties: Record<string, { value: number }[]> } }).params.properties).flatMap(([name, values]) => (name.endsWith('_n') ? values.map((v) => v.value) : []))
        : [Number(json(m).id)],
    readReply: (m): ReadReply => ({ address: m.topic, id: json(m).id ?? null, ok: json(m).code === 200 }),
    payloadProblems: (m) => (m.topic.endsWith('/batch/post') ? [batchPostProblem(JSON.parse(m.payload.toString()) as Record<string, unknown>, CONTRACT_NOW)].filter((p): p is string => p !== undefined) : []),
    unsyncedClock: 'refuses',
  });
}

// Xyte: status updates {id, status, message} on commands/update, or the MQTT 5 response topic with its correlation data.
{
  const credentials = { id: 'dev-1', accessKey: 'xyte-access-key-0123456789abcdef', mqttHubUrl: 'mqtts://hub.example.xyte.io:8883' };
  const replyTo = (r: { properties?: { responseTopic?: string; correlationData?: Buffer } }) => address(r.properties?.responseTopic ?? 'v1/device/dev-1/commands/update', r.properties?.correlationData);
  const body = (c: { id: string; name: string; params: unknown }) => bytes({ id: c.id, status: 'pending', name: c.name, parameters: c.params });
  const mqtt5 = { responseTopic: 'v1/device/dev-1/commands/update', correlationData: CORRELATION };
  adapterContract('xyte', {
    create: factory({ provider: 'xyte', ...credentials }),
    selfRegistering: {
      create: factory({ provider: 'xyte', registration: { url: 'https://127.0.0.1:9/v1/devices', sn: 'SN-1', hardwareKey: 'xyte-hardware-key-secret', cloudId: 'cloud-1' } }),
      seedRegistered: (dataDir) => storeCredentials(dataDir, { ...credentials, sn: 'SN-1' }),
    },
    secrets: [credentials.accessKey, 'xyte-hardware-key-secret'],
    channels: [
      { label: 'commands topic', message: (c) => ({ topic: 'v1/device/dev-1/commands', payload: body(c) }), malformed: (id) => ({ topic: 'v1/device/dev-1/commands', payload: bytes({ id, status: 'pending' }) }), replyAddress: replyTo },
      {
        label: 'command topic, MQTT 5 response topic',
        message: (c) => ({ topic: 'v1/device/dev-1/command', payload: body(c), properties: mqtt5 }),
        malformed: (id) => ({ topic: 'v1/device/dev-1/command', payload: bytes({ id, status: 'pending', name: ['ping'] }), properties: mqtt5 }),
        replyAddress: replyTo,
      },
    ],
    unrelatedTopics: ['v1/device/dev-1/config', 'v1/device/dev-1/commands/update', 'v1/device/dev-1/telemetry', 'v1/device/dev-2/commands', ''],
    readTelemetrySeqs: (m) => seqsFromKeys([json(m).telemetries ?? {}]),
    readReply: (m): ReadReply => ({ address: address(m.topic, m.properties?.correlationData), id: json(m).id ?? null, ok: json(m).status !== 'failed' }),
    unsyncedClock: 'connects',
  });
}
