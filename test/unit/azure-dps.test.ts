// Azure DPS provisioning, the pure parts: the derived device key (the documentation's worked
// example), the registration SAS token, the `cloud.provisioning` config rules, and the credentials
// part's stored assignment (which key it was made for, set aside when the hub refuses it).
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { summarizeConfig } from '../../src/cli/summary.ts';
import type { AdapterContext } from '../../src/cloud/adapter.ts';
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import type { MqttClient } from 'mqtt';
import { ASSIGNMENT_FILE } from '../../src/cloud/adapters/azure/assignment.ts';
import { azureCredentials } from '../../src/cloud/adapters/azure/credentials.ts';
import { registerWithDps } from '../../src/cloud/adapters/azure/dps-client.ts';
import type { AzureConfig } from '../../src/cloud/adapters/azure.ts';
import { attestationFingerprint, attestationOf } from '../../src/cloud/adapters/azure/provisioning.ts';
import { deriveDeviceKey, parseSasToken, registrationSasToken } from '../../src/cloud/adapters/azure/sas-token.ts';
import { RegistrationError } from '../../src/cloud/credentials/registration-error.ts';
import { credentialsContext } from '../../src/cloud/credentials/supervised-adapter.ts';
import type { Timers } from '../../src/timers.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { problemsOf } from '../helpers/config-refusal.ts';

const GROUP_KEY = '8isrFI1sGsIlvvFSSFRiMfCNzv21fjbE/+ah/lSh3lF8e2YG1Te7w1KpZhJFFXJrqYKi9yegxkqIChbqOS9Egw==';
const OTHER_KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';
const root = mkdtempSync(join(tmpdir(), 'edge-agent-azure-dps-'));
after(() => rmSync(root, { recursive: true, force: true }));

function azureConfig(provisioning: Record<string, unknown>, extra: Record<string, unknown> = {}): AzureConfig {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'gw-001' }, cloud: { provider: 'azure', provisioning: { idScope: '0ne00000A1', ...provisioning }, ...extra } }));
  if (config.cloud.provider !== 'azure') throw new Error('expected azure');
  return config.cloud;
}

function context(dataDir: string, log = captureLog().log): AdapterContext {
  return { agentId: 'gw-001', agentVersion: '1.0.0', dataDir, log, now: () => 1_700_000_000_000, clockSynchronized: () => true };
}

describe('DPS keys and tokens', () => {
  it('derives a group member key as the DPS documentation shows it', () => {
    // learn.microsoft.com, "How to provision devices using symmetric key enrollment groups": the worked example.
    assert.equal(deriveDeviceKey(GROUP_KEY, 'sn-007-888-abc-mac-a1-b2-c3-d4-e5-f6'), 'Jsm0lyGpjaVYVP2g3FnmnmG9dI/9qU24wNoykUmermc=');
  });

  it('signs the registration resource with skn=registration', () => {
    const token = registrationSasToken('0ne00000A1', 'gw-001', OTHER_KEY, 1_700_003_600);
    const parsed = parseSasToken(token)!;
    assert.equal(parsed.sr, '0ne00000A1%2Fregistrations%2Fgw-001');
    assert.equal(parsed.skn, 'registration');
    assert.equal(parsed.se, 1_700_003_600);
    const expected = createHmac('sha256', Buffer.from(OTHER_KEY, 'base64')).update(`${parsed.sr}\n${parsed.se}`).digest('base64');
    assert.equal(decodeURIComponent(parsed.sig), expected);
  });
});

describe('cloud.provisioning config', () => {
  const text = (cloud: Record<string, unknown>) => JSON.stringify({ cloud: { provider: 'azure', ...cloud } }, null, 2);

  it('takes a group key, a device key or the X.509 certificate, with DPS defaults', () => {
    const config = azureConfig({ groupKey: GROUP_KEY });
    assert.equal(config.provisioning?.endpoint, 'global.azure-devices-provisioning.net');
    assert.equal(config.provisioning?.retryMin, 10_000);
    assert.equal(azureConfig({ deviceKey: OTHER_KEY }).provisioning?.deviceKey?.reveal(), OTHER_KEY);
  });

  it('refuses what cannot register, at the key that is wrong', () => {
    const both = problemsOf(text({ provisioning: { idScope: '0ne00000A1', groupKey: GROUP_KEY, deviceKey: OTHER_KEY } }));
    assert.equal(both.problems[0]?.path, 'cloud.provisioning.deviceKey');
    assert.match(both.message, /"groupKey" \(an enrollment group\) or "deviceKey" \(an individual enrollment\), not both/);

    const neither = problemsOf(text({ provisioning: { idScope: '0ne00000A1' } }));
    assert.equal(neither.problems[0]?.path, 'cloud.provisioning');
    assert.match(neither.message, /expected "groupKey".*"deviceKey".*tls\.cert and tls\.key/);

    const mixed = problemsOf(text({ connectionString: `HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=${OTHER_KEY}`, provisioning: { idScope: '0ne00000A1', groupKey: GROUP_KEY } }));
    assert.match(mixed.message, /cloud\.provisioning \(line \d+, col \d+\): expected either "provisioning"/);

    const notBase64 = problemsOf(text({ provisioning: { idScope: '0ne00000A1', groupKey: 'my-group-key' } }));
    assert.equal(notBase64.problems[0]?.path, 'cloud.provisioning.groupKey');
    assert.match(notBase64.message, /expected a base64 symmetric key .* found 12 characters/);
    assert.doesNotMatch(notBase64.message, /my-group-key/, 'a secret is never echoed');

    const badId = problemsOf(text({ provisioning: { idScope: '0ne00000A1', groupKey: GROUP_KEY, registrationId: '-gw 1' } }));
    assert.equal(badId.problems[0]?.path, 'cloud.provisioning.registrationId');
    assert.match(badId.message, /expected a DPS registration id/);

    const badScope = problemsOf(text({ provisioning: { idScope: '0ne 1', groupKey: GROUP_KEY } }));
    assert.match(badScope.message, /cloud\.provisioning\.idScope .*expected the ID scope/);
  });

  it('check-config says how the gateway gets in', () => {
    const { config } = parseConfigText(JSON.stringify({ agent: { id: 'gw-007' }, cloud: { provider: 'azure', provisioning: { idScope: '0ne00000A1', groupKey: GROUP_KEY } } }));
    assert.match(summarizeConfig(config), /^cloud +azure +via DPS global\.azure-devices-provisioning\.net, ID scope 0ne00000A1, registration id gw-007 \(enrollment group key\)$/m);
    assert.doesNotMatch(summarizeConfig(config), new RegExp(GROUP_KEY.slice(0, 12).replace(/[+/]/g, '.')));
  });

  it('fingerprints the key or certificate an assignment is for, not the key itself', () => {
    const config = azureConfig({ groupKey: GROUP_KEY });
    const attestation = attestationOf(config.provisioning!, 'gw-001', undefined);
    assert.equal(attestation.kind === 'symmetricKey' && attestation.deviceKey, deriveDeviceKey(GROUP_KEY, 'gw-001'));
    const fingerprint = attestationFingerprint(attestation);
    assert.match(fingerprint, /^key:sha256:[0-9a-f]{64}$/);
    assert.notEqual(fingerprint, attestationFingerprint(attestationOf(config.provisioning!, 'gw-002', undefined)));
  });
});

describe('Azure credentials part (DPS assignment)', () => {
  const stored = (dataDir: string, config: AzureConfig, registrationId = 'gw-001') => {
    const ctx = credentialsContext(context(dataDir));
    const attestation = attestationOf(config.provisioning!, registrationId, undefined);
    ctx.store.write(ASSIGNMENT_FILE, { idScope: '0ne00000A1', registrationId, attestation: attestationFingerprint(attestation), assignedHub: 'hub-b.azure-devices.net', deviceId: registrationId, assignedAt: 1 });
    return ctx;
  };

  it('connects to the stored assignment with the derived key, and to nothing for another key', async () => {
    const dir = mkdtempSync(join(root, 'a-'));
    const config = azureConfig({ groupKey: GROUP_KEY });
    const ctx = stored(dir, config);
    const resolved = await azureCredentials.resolve(config, ctx);
    assert.deepEqual(resolved, { source: 'stored', credentials: { host: 'hub-b.azure-devices.net', deviceId: 'gw-001', key: deriveDeviceKey(GROUP_KEY, 'gw-001') } });
    assert.equal(statSync(join(dir, ASSIGNMENT_FILE)).mode & 0o777, 0o600);
    assert.doesNotMatch(JSON.stringify(ctx.store.read(ASSIGNMENT_FILE)), new RegExp(deriveDeviceKey(GROUP_KEY, 'gw-001').replace(/[+/=]/g, '.')), 'no key on disk');

    // The group key was rotated in the config: the assignment was made for the old one.
    const rotated = azureConfig({ groupKey: OTHER_KEY });
    assert.equal(await azureCredentials.resolve(rotated, ctx), undefined);
    // Another scope, or another registration id.
    assert.equal(await azureCredentials.resolve(azureConfig({ groupKey: GROUP_KEY, registrationId: 'gw-002' }), ctx), undefined);

    // The adapter built through the registry connects to the assigned hub as the assigned device.
    const adapter = createAdapter({ ...config, id: 'cloud' }, context(dir));
    const options = await adapter.connectOptions();
    assert.equal(options.url, 'mqtts://hub-b.azure-devices.net:8883');
    assert.equal(options.clientId, 'gw-001');
    assert.equal(options.username, 'hub-b.azure-devices.net/gw-001/?api-version=2021-04-12');
    assert.deepEqual(adapter.subscriptions()[0], 'devices/gw-001/messages/devicebound/#');
    assert.equal(adapter.encodeTelemetry([{ id: 'r1', seq: 1, sensorId: 's', ts: 1, values: { t: 1 } }]).messages[0]?.topic, 'devices/gw-001/messages/events/$.ct=application%2Fjson&$.ce=utf-8');
  });

  it('sets a refused assignment aside so the next connect registers again; a connection string is never set aside', async () => {
    const dir = mkdtempSync(join(root, 'b-'));
    const config = azureConfig({ groupKey: GROUP_KEY });
    const log = captureLog();
    const ctx = stored(dir, config);
    const resolved = (await azureCredentials.resolve(config, ctx))!;
    await azureCredentials.refused(config, { ...ctx, log: log.log }, resolved);
    assert.deepEqual(readdirSync(dir), ['azure-dps-assignment.refused.json']);
    assert.equal(await azureCredentials.resolve(config, ctx), undefined);
    assert.match(String(log.events('azure-dps-identity-refused')[0]?.msg), /refused device gw-001 that DPS assigned .*registering with DPS/);

    const direct = parseConfigText(JSON.stringify({ cloud: { provider: 'azure', connectionString: `HostName=h.azure-devices.net;DeviceId=d1;SharedAccessKey=${OTHER_KEY}` } })).config.cloud as AzureConfig;
    const fromConfig = (await azureCredentials.resolve(direct, ctx))!;
    assert.equal(fromConfig.source, 'config');
    await azureCredentials.refused(direct, { ...ctx, log: log.log }, fromConfig);
    assert.match(String(log.events('azure-credentials-refused')[0]?.msg), /IoT Hub h\.azure-devices\.net refused device d1: check cloud\.connectionString/);
    assert.deepEqual(readdirSync(dir), ['azure-dps-assignment.refused.json']);
  });

  it('never loses a working assignment to an unreachable DPS: the set-aside one comes back', async () => {
    const dir = mkdtempSync(join(root, 'd-'));
    // Port 1 on loopback: refused at once, as a DPS behind a dead uplink is unreachable.
    const config = azureConfig({ groupKey: GROUP_KEY, endpoint: '127.0.0.1:1' });
    const log = captureLog();
    const ctx = { ...stored(dir, config), log: log.log };
    await azureCredentials.refused(config, ctx, (await azureCredentials.resolve(config, ctx))!);
    assert.equal(await azureCredentials.resolve(config, ctx), undefined, 'set aside after the hub refused it');
    await assert.rejects(azureCredentials.register(config, ctx), (error: RegistrationError) => error.refusal === 'unreachable' && /registration id "gw-001": cannot reach DPS: .*ECONNREFUSED/.test(error.message));
    assert.equal((await azureCredentials.resolve(config, ctx))?.credentials.host, 'hub-b.azure-devices.net', 'the previous assignment is back');
    assert.match(String(log.events('azure-dps-kept-assignment')[0]?.msg), /keeping the previous assignment \(device gw-001 on hub-b\.azure-devices\.net\)/);
    assert.match(azureCredentials.failure(config, new RegistrationError('cannot reach DPS: connect ECONNREFUSED 127.0.0.1:1', 'unreachable')), /check the uplink, DNS, and that port 8883 is open outbound to 127\.0\.0\.1:1 \(cloud\.provisioning\.endpoint/);
  });

  it('defaults the registration id to the agent id, and says so when the agent id cannot be one', async () => {
    const config = azureConfig({ groupKey: GROUP_KEY });
    const ctx = credentialsContext({ ...context(mkdtempSync(join(root, 'c-'))), agentId: 'gateway #7' });
    await assert.rejects(azureCredentials.register(config, ctx), /the agent id "gateway #7" is not a valid DPS registration id .*set cloud\.provisioning\.registrationId/);
  });
});

/** A DPS that answers each request as the script says, over a fake MQTT client: for answers the emulator never gives. */
class ScriptedDps extends EventEmitter {
  readonly asked: string[] = [];
  readonly script: (topic: string, index: number) => { status: number; query?: string; body: unknown };
  constructor(script: (topic: string, index: number) => { status: number; query?: string; body: unknown }) {
    super();
    this.script = script;
    queueMicrotask(() => this.emit('connect'));
  }
  subscribeAsync(): Promise<unknown> {
    return Promise.resolve([]);
  }
  publishAsync(topic: string): Promise<void> {
    const answer = this.script(topic, this.asked.push(topic) - 1);
    const rid = /\$rid=([^&]+)/.exec(topic)![1]!;
    queueMicrotask(() => this.emit('message', `$dps/registrations/res/${answer.status}/?$rid=${rid}${answer.query ?? ''}`, Buffer.from(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body))));
    return Promise.resolve();
  }
  end(): this {
    return this;
  }
}

describe('DPS answers the emulator never gives', () => {
  const request = { url: 'mqtts://dps.example:8883', idScope: '0ne00000A1', registrationId: 'gw-1', password: 'SharedAccessSignature x', tls: { rejectUnauthorized: true }, clientVersion: 'edge-agent/test', connectTimeoutMs: 1000 };
  const run = (script: ConstructorParameters<typeof ScriptedDps>[0]) => {
    // Waits between status queries, on a fake clock; the 30 s answer timeout is armed on every request and never due here.
    const waits: number[] = [];
    const clock = new FakeClock();
    const timers: Timers = {
      now: clock.now,
      setTimeout: (fn, ms) => {
        if (ms !== 30_000) waits.push(ms);
        return clock.setTimeout(fn, ms);
      },
      clearTimeout: clock.clearTimeout,
    };
    const dps = new ScriptedDps(script);
    const registration = registerWithDps(request, { connect: () => dps as unknown as MqttClient, timers });
    let settled = false;
    registration.then(
      () => (settled = true),
      () => (settled = true),
    );
    const result = clock.until(() => settled, 2 * 3_600_000, 'the registration', 10_000).then(() => registration);
    return { result, waits, dps };
  };
  const assigning = { status: 202, query: '&retry-after=0', body: { operationId: 'op-1', status: 'assigning' } };

  it('refuses an assignment whose device id would change a topic', async () => {
    const { result, waits } = run((_topic, i) => (i === 0 ? assigning : { status: 200, body: { operationId: 'op-1', status: 'assigned', registrationState: { assignedHub: 'hub.azure-devices.net', deviceId: 'gw/#' } } }));
    await assert.rejects(result, (error: RegistrationError) => error.refusal === 'server' && /without a valid assignedHub and deviceId/.test(error.message));
    assert.deepEqual(waits, [1000], 'a retry-after of 0 is waited as 1 s, not a busy loop');
  });

  it('maps a failed operation by its error code, bounds what it echoes, and clamps a huge retry-after', async () => {
    const failed = run(() => ({ status: 200, body: { operationId: 'op-1', status: 'failed', registrationState: { errorCode: 404201, errorMessage: `no such enrollment ${'x'.repeat(5000)}\nsecond line` } } }));
    await assert.rejects(failed.result, (error: RegistrationError) => error.refusal === 'unknown' && error.message.length < 300 && !error.message.includes('\n'));

    const slow = run((_topic, i) => (i === 0 ? { ...assigning, query: '&retry-after=999999' } : { status: 200, body: { operationId: 'op-1', status: 'assigned', registrationState: { assignedHub: 'hub.azure-devices.net', deviceId: 'gw-1', substatus: 'initialAssignment' } } }));
    assert.deepEqual(await slow.result, { assignedHub: 'hub.azure-devices.net', deviceId: 'gw-1', substatus: 'initialAssignment' });
    assert.deepEqual(slow.waits, [60 * 60_000]);
  });

  it('gives up on an operation that never finishes, and on answers that are not DPS JSON', async () => {
    const endless = run(() => assigning);
    await assert.rejects(endless.result, (error: RegistrationError) => error.refusal === 'server' && /still assigning after 60 status queries/.test(error.message));
    assert.equal(endless.dps.asked.length, 61);

    const garbage = run(() => ({ status: 200, body: 'not json {' }));
    await assert.rejects(garbage.result, (error: RegistrationError) => error.refusal === 'server' && /status "undefined"/.test(error.message));

    const throttled = run(() => ({ status: 429, query: '&retry-after=7', body: { errorCode: 429001, message: 'Too many requests' } }));
    await assert.rejects(throttled.result, (error: RegistrationError) => error.refusal === 'throttled' && error.retryAfterMs === 7000);
  });
});
