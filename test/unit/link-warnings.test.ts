// What is unsafe about a cloud link, judged once for the agent, check-config and doctor.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { cloudLinkWarnings, createAdapter } from '../../src/cloud/adapters/index.ts';
import { storeCredentials } from '../../src/cloud/adapters/xyte/registration.ts';
import { linkWarnings, logLinkWarnings } from '../../src/cloud/link-warnings.ts';
import { summarizeConfig } from '../../src/cli/summary.ts';
import { withLinkWarnings } from '../../src/cli/doctor/cloud-checks.ts';
import { ok, warn, fail } from '../../src/cli/doctor/check.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { makeTestPki } from '../helpers/test-ca.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-link-warnings-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const SECRETS = ['sw0rdf1sh', 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=', '0123456789abcdef0123456789abcdef', 'xyte-access-key-0001', 'hw-key-77'] as const;

function parse(cloud: Record<string, unknown>) {
  return parseConfigText(JSON.stringify({ agent: { id: 'gw1', dataDir: join(dir, 'data') }, cloud })).config;
}
const eventsOf = (cloud: Record<string, unknown>) => cloudLinkWarnings(parse(cloud).cloud).map((w) => w.event);
const noSecrets = (text: string) => {
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret leaked into: ${text}`);
};

const offTls = { tls: { rejectUnauthorized: false } };
const waylay = { provider: 'waylay', url: 'mqtts://broker.example.io', resourceId: 'pump-7', username: 'dev-user', password: SECRETS[0], domain: 'app.waylay.io' };
const azure = { provider: 'azure', connectionString: `HostName=hub.azure-devices.net;DeviceId=gw1;SharedAccessKey=${SECRETS[1]}` };
const alibaba = { provider: 'alibaba', productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: SECRETS[2], regionId: 'cn-shanghai' };
const xyte = { provider: 'xyte', id: 'dev-1', accessKey: SECRETS[3], mqttHubUrl: 'mqtts://hub.example:8883' };

describe('linkWarnings', () => {
  it('says nothing about a verified TLS link, or a plain one that carries no credentials', () => {
    assert.deepEqual(linkWarnings({ url: 'mqtts://b.example:8883', credentials: 'the password', verifyCertificates: true }), []);
    assert.deepEqual(linkWarnings({ url: 'wss://b.example/mqtt', credentials: 'the password', verifyCertificates: true }), []);
    assert.deepEqual(linkWarnings({ url: 'mqtt://10.0.0.5:1883', credentials: undefined, verifyCertificates: true }), []);
  });
  it('warns when certificates are not checked, naming the endpoint and what is exposed', () => {
    const [warning, ...rest] = linkWarnings({ url: 'mqtts://b.example:8883', credentials: 'the password', verifyCertificates: false });
    assert.deepEqual(rest, []);
    assert.equal(warning!.event, 'tls-verification-off');
    assert.equal(warning!.endpoint, 'mqtts://b.example:8883');
    assert.match(warning!.message, /rejectUnauthorized is false\): anyone on the network path can pose as mqtts:\/\/b\.example:8883 and read or change readings and commands, and learn the password$/);
    assert.match(warning!.fix, /cloud\.tls\.ca/);
  });
  it('warns when credentials go over mqtt:// or ws://', () => {
    for (const url of ['mqtt://b.example:1883', 'ws://b.example/mqtt', 'MQTT://b.example']) {
      const warnings = linkWarnings({ url, credentials: 'the SAS token', verifyCertificates: true });
      assert.deepEqual(warnings.map((w) => w.event), ['credentials-in-clear'], url);
      assert.match(warnings[0]!.message, /is not encrypted: the SAS token and the data cross the network in clear/);
    }
  });
  it('keeps user:password@ and the query of a URL out of the warning', () => {
    const warnings = linkWarnings({ url: `ws://user:${SECRETS[0]}@b.example:8080/mqtt?token=${SECRETS[4]}`, credentials: 'the password', verifyCertificates: false });
    assert.deepEqual(
      warnings.map((w) => w.event),
      ['tls-verification-off', 'credentials-in-clear', 'credentials-in-url-ignored'],
    );
    for (const w of warnings) assert.equal(w.endpoint, 'ws://b.example:8080');
    noSecrets(JSON.stringify(warnings));
  });
  it('warns that a user name and password typed into the URL are not used, and where they go instead', () => {
    const [ignored, ...rest] = cloudLinkWarnings(parse({ provider: 'mqtt', url: `mqtts://scada:${SECRETS[0]}@b.example:8883` }).cloud);
    assert.deepEqual(rest, []);
    assert.equal(ignored?.event, 'credentials-in-url-ignored');
    assert.match(ignored.message, /^the user name and password written into cloud\.url \(mqtts:\/\/b\.example:8883\) are not used/);
    assert.match(ignored.fix, /cloud\.username and cloud\.password/);
    noSecrets(JSON.stringify(ignored));
    const [line] = withLinkWarnings(undefined, [ignored]);
    assert.equal(line?.name, 'cloud', 'doctor shows it on the cloud line, not as a TLS problem');
    assert.equal(line?.status, 'WARN');
  });
  it('cannot judge the scheme of a URL not known yet, but still warns about verification', () => {
    assert.deepEqual(linkWarnings({ url: undefined, credentials: 'the access key', verifyCertificates: true }), []);
    const [off] = linkWarnings({ url: undefined, credentials: 'the access key', verifyCertificates: false });
    assert.equal(off!.event, 'tls-verification-off');
    assert.equal(off!.endpoint, undefined);
    assert.match(off!.message, /pose as the cloud/);
  });
  it('logs each at warn level with its event, endpoint and fix', () => {
    const captured = captureLog();
    logLinkWarnings(captured.log, linkWarnings({ url: 'mqtt://b.example:1883', credentials: 'the password', verifyCertificates: false }));
    captured.log.flush();
    assert.deepEqual(
      captured.lines.map((l) => [l.level, l.event, l.endpoint]),
      [
        ['warn', 'tls-verification-off', 'mqtt://b.example:1883'],
        ['warn', 'credentials-in-clear', 'mqtt://b.example:1883'],
      ],
    );
    assert.match(String(captured.lines[1]!.msg), /fix: use mqtts:\/\//);
  });
});

describe('every provider describes its link', () => {
  it('mqtt: a password over mqtt:// or ws://, not an anonymous client', () => {
    assert.deepEqual(eventsOf({ provider: 'mqtt', url: 'mqtt://b.example', username: 'u', password: SECRETS[0] }), ['credentials-in-clear']);
    assert.deepEqual(eventsOf({ provider: 'mqtt', url: 'ws://b.example/mqtt', username: 'u', password: SECRETS[0] }), ['credentials-in-clear']);
    assert.deepEqual(eventsOf({ provider: 'mqtt', url: 'mqtt://b.example', username: 'u' }), []);
    assert.deepEqual(eventsOf({ provider: 'mqtt', url: 'mqtts://b.example', password: SECRETS[0] }), []);
    assert.deepEqual(eventsOf({ provider: 'mqtt', url: 'mqtts://b.example', ...offTls }), ['tls-verification-off']);
  });
  it('waylay: the device password over a plain URL (the adapter no longer warns on its own)', () => {
    assert.deepEqual(eventsOf(waylay), []);
    assert.deepEqual(eventsOf({ ...waylay, url: 'mqtt://broker.example.io' }), ['credentials-in-clear']);
    assert.equal(cloudLinkWarnings(parse({ ...waylay, url: 'mqtt://broker.example.io' }).cloud)[0]!.endpoint, 'mqtt://broker.example.io:1883', 'the default port it will use');
    assert.deepEqual(eventsOf({ ...waylay, ...offTls }), ['tls-verification-off']);
  });
  it('azure: the SAS token over an overridden plain URL; X.509 sends no secret', () => {
    assert.deepEqual(eventsOf(azure), []);
    assert.deepEqual(eventsOf({ ...azure, transport: 'wss' }), []);
    assert.deepEqual(eventsOf({ ...azure, url: 'mqtt://127.0.0.1:1883' }), ['credentials-in-clear']);
    assert.match(cloudLinkWarnings(parse({ ...azure, url: 'mqtt://127.0.0.1:1883' }).cloud)[0]!.message, /the SAS token/);
    const pki = makeTestPki();
    try {
      const device = pki.client('gw1');
      assert.deepEqual(eventsOf({ provider: 'azure', hostName: 'hub.azure-devices.net', deviceId: 'gw1', url: 'mqtt://127.0.0.1:1883', tls: { cert: device.certPath, key: device.keyPath } }), []);
    } finally {
      pki.cleanup();
    }
    const off = cloudLinkWarnings(parse({ ...azure, ...offTls }).cloud);
    assert.deepEqual(off.map((w) => w.event), ['tls-verification-off']);
    assert.equal(off[0]!.endpoint, 'mqtts://hub.azure-devices.net:8883');
  });
  it('alibaba: transports tcp and ws, with the setting that fixes them', () => {
    assert.deepEqual(eventsOf(alibaba), []);
    assert.deepEqual(eventsOf({ ...alibaba, transport: 'wss' }), []);
    for (const transport of ['tcp', 'ws']) {
      const [warning, ...rest] = cloudLinkWarnings(parse({ ...alibaba, transport }).cloud);
      assert.deepEqual(rest, []);
      assert.equal(warning!.event, 'credentials-in-clear');
      assert.match(warning!.message, /a1b2c3d4e5f\.iot-as-mqtt\.cn-shanghai\.aliyuncs\.com.* the signed password/i);
      assert.match(warning!.fix, /cloud\.transport to "tls"/);
    }
    assert.match(cloudLinkWarnings(parse({ ...alibaba, url: 'mqtt://127.0.0.1:1883' }).cloud)[0]!.fix, /cloud\.url/);
    assert.deepEqual(eventsOf({ ...alibaba, ...offTls }), ['tls-verification-off']);
  });
  it('xyte: the access key over a plain hub URL from the config', () => {
    assert.deepEqual(eventsOf(xyte), []);
    assert.deepEqual(eventsOf({ ...xyte, mqttHubUrl: 'mqtt://hub.example:1883' }), ['credentials-in-clear']);
    assert.deepEqual(eventsOf({ ...xyte, url: 'ws://hub.example/mqtt' }), ['credentials-in-clear']);
    assert.deepEqual(eventsOf({ ...xyte, ...offTls }), ['tls-verification-off']);
  });
  it('never puts a secret in a warning', () => {
    for (const cloud of [{ ...waylay, url: 'mqtt://broker.example.io' }, { ...azure, url: 'ws://h/x' }, { ...alibaba, transport: 'tcp' }, { ...xyte, mqttHubUrl: 'mqtt://h' }]) {
      noSecrets(JSON.stringify(cloudLinkWarnings(parse({ ...cloud, ...offTls }).cloud)));
    }
  });
});

describe('xyte hub URL from registration', () => {
  const registration = { provider: 'xyte', registration: { sn: 'SN-9', hardwareKey: SECRETS[4], mac: 'b8:27:eb:12:34:56' } };
  const create = (dataDir: string, cloud: Record<string, unknown> = {}) => {
    const config = parse({ ...registration, ...cloud }).cloud;
    if (config.provider !== 'xyte') throw new Error('expected xyte');
    const captured = captureLog();
    const adapter = createAdapter(config, { agentId: 'gw1', agentVersion: '0', dataDir, log: captured.log, now: () => 1_700_000_000_000, clockSynchronized: () => true });
    return { adapter, captured, config };
  };

  it('is judged at the first connect, once, and only for what the start could not judge', async () => {
    const dataDir = mkdtempSync(join(dir, 'xyte-'));
    storeCredentials(dataDir, { id: 'dev-9', accessKey: SECRETS[3], mqttHubUrl: 'mqtt://hub.example:1883', sn: 'SN-9' });
    const { adapter, captured, config } = create(dataDir, offTls);
    assert.deepEqual(cloudLinkWarnings(config).map((w) => w.event), ['tls-verification-off'], 'what the agent logs at start');
    await adapter.connectOptions();
    await adapter.connectOptions();
    captured.log.flush();
    assert.deepEqual(
      captured.lines.map((l) => [l.level, l.event, l.endpoint]),
      [['warn', 'credentials-in-clear', 'mqtt://hub.example:1883']],
    );
    noSecrets(JSON.stringify(captured.lines));
  });
  it('says nothing at connect for an encrypted hub, or a URL the config already gave', async () => {
    const dataDir = mkdtempSync(join(dir, 'xyte-'));
    storeCredentials(dataDir, { id: 'dev-9', accessKey: SECRETS[3], mqttHubUrl: 'mqtts://hub.example:8883', sn: 'SN-9' });
    const encrypted = create(dataDir);
    await encrypted.adapter.connectOptions();
    const overridden = create(dataDir, { url: 'mqtt://127.0.0.1:1883' });
    await overridden.adapter.connectOptions();
    assert.deepEqual([...encrypted.captured.lines, ...overridden.captured.lines], []);
  });
});

describe('check-config', () => {
  it('adds a WARNING line with a fix for each, and none for a safe config', () => {
    const text = summarizeConfig(parse({ provider: 'mqtt', url: 'mqtt://b.example:1883', username: 'u', password: SECRETS[0], ...offTls }));
    const warnings = text.split('\n').filter((l) => l.startsWith('WARNING'));
    assert.equal(warnings.length, 2, text);
    assert.match(warnings[0]!, /^WARNING {4}certificate verification is off/);
    assert.match(warnings[1]!, /^WARNING {4}mqtt:\/\/b\.example:1883 is not encrypted: the password/);
    assert.match(text, /^ {11}fix: use mqtts:\/\//m);
    noSecrets(text);
    assert.doesNotMatch(summarizeConfig(parse({ provider: 'mqtt', url: 'mqtts://b.example', username: 'u', password: SECRETS[0] })), /WARNING/);
  });
});

describe('doctor TLS line', () => {
  const [off, clear] = linkWarnings({ url: 'mqtt://b.example', credentials: 'the password', verifyCertificates: false });
  it('turns a good handshake to WARN when verification is off, keeping its detail', () => {
    const [line, ...rest] = withLinkWarnings(ok('TLS', 'TLSv1.3 handshake with b.example'), [off!]);
    assert.deepEqual(rest, []);
    assert.equal(line!.status, 'WARN');
    assert.match(line!.detail, /^certificate verification is off .*\(TLSv1\.3 handshake with b\.example\)$/);
  });
  it('keeps a failed handshake a FAIL, and gives other warnings lines of their own', () => {
    const failed = fail('TLS', 'handshake failed');
    assert.deepEqual(withLinkWarnings(failed, [off!]), [failed, warn('TLS', off!.message, off!.fix)]);
    assert.deepEqual(withLinkWarnings(undefined, [clear!]), [warn('TLS', clear!.message, clear!.fix)]);
    assert.deepEqual(withLinkWarnings(ok('TLS', 'fine'), []), [ok('TLS', 'fine')]);
  });
});
