import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { runDoctor } from '../../src/cli/doctor.ts';
import { doctorExitCode, fail, formatCheck, ok, warn } from '../../src/cli/doctor/check.ts';
import { endpointOf } from '../../src/cli/doctor/cloud-checks.ts';
import { canReadWrite, checkSerialPort, serviceAccount } from '../../src/cli/doctor/system-checks.ts';
import { CLI } from '../helpers/agent-process.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-doctor-'));
let broker: Mosquitto;
/** TLS on 127.0.0.1, anonymous: an IP-address host, as on a plant network without DNS. */
let tlsBroker: Mosquitto;
let pki: TestPki;
before(async () => {
  broker = await startMosquitto({ configLines: [] });
  execFileSync('mosquitto_passwd', ['-b', '-c', join(broker.dir, 'passwd'), 'gateway', 'right-password'], { stdio: 'ignore' });
  chmodSync(join(broker.dir, 'passwd'), 0o644);
  broker.configLines = ['allow_anonymous false', `password_file ${join(broker.dir, 'passwd')}`];
  await broker.stop();
  await broker.start();
  pki = makeTestPki();
  // Started as root, mosquitto reads its key as the `mosquitto` user.
  chmodSync(pki.dir, 0o755);
  chmodSync(pki.keyPath, 0o644);
  tlsBroker = await startMosquitto({ configLines: ['allow_anonymous true', `certfile ${pki.certPath}`, `keyfile ${pki.keyPath}`] });
});
after(async () => {
  await broker?.cleanup();
  await tlsBroker?.cleanup();
  pki?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

function configFile(config: Record<string, unknown>): string {
  const file = join(dir, `config-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(file, JSON.stringify({ version: 1, agent: { id: 'doctor-test', dataDir: join(dir, 'data') }, sensors: [{ id: 'sim', type: 'simulated', interval: '1s' }], ...config }));
  return file;
}

async function doctor(config: Record<string, unknown>): Promise<{ code: number; text: string }> {
  const file = configFile(config);
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  const code = await runDoctor(file, { out });
  return { code, text };
}

test('lines carry status, check, detail and, when not OK, a fix', () => {
  assert.equal(formatCheck(ok('DNS', 'a -> 1.2.3.4')), 'OK    DNS: a -> 1.2.3.4');
  assert.equal(formatCheck(fail('TCP', 'refused', 'open port 8883')), 'FAIL  TCP: refused\n      fix: open port 8883');
  assert.equal(doctorExitCode([ok('a', ''), warn('b', '')]), 0);
  assert.equal(doctorExitCode([ok('a', ''), fail('b', '')]), 1);
});

test('endpoints: default ports per scheme, IPv6 brackets removed', () => {
  assert.deepEqual(endpointOf('mqtts://hub.example.net'), { host: 'hub.example.net', port: 8883, tls: true });
  assert.deepEqual(endpointOf('mqtt://[::1]:1999'), { host: '::1', port: 1999, tls: false });
  assert.deepEqual(endpointOf('wss://x.example/mqtt'), { host: 'x.example', port: 443, tls: true });
});

test('serial access follows owner, group membership and mode', () => {
  const user = { uid: 1000, gids: new Set([1000, 20]) };
  assert.equal(canReadWrite(user, { uid: 0, gid: 20, mode: 0o20660 }), true, 'group dialout rw');
  assert.equal(canReadWrite(user, { uid: 0, gid: 5, mode: 0o20660 }), false, 'other group');
  assert.equal(canReadWrite(user, { uid: 0, gid: 20, mode: 0o20640 }), false, 'group read-only');
  assert.equal(canReadWrite(user, { uid: 1000, gid: 5, mode: 0o20600 }), true, 'owner');
});

test('service account from passwd and group files', () => {
  const etc = mkdtempSync(join(dir, 'etc-'));
  writeFileSync(join(etc, 'passwd'), 'root:x:0:0::/root:/bin/sh\nedge-agent:x:998:998::/var/lib/edge-agent:/usr/sbin/nologin\n');
  writeFileSync(join(etc, 'group'), 'dialout:x:20:pi,edge-agent\nedge-agent:x:998:\n');
  assert.deepEqual(serviceAccount('edge-agent', etc), { uid: 998, gids: new Set([998, 20]) });
  assert.equal(serviceAccount('nobody-here', etc), undefined);
});

test('a missing serial port fails with a fix; a non-device is refused', () => {
  const missing = checkSerialPort('meter', '/dev/ttyNOPE9', 'edge-agent', { uid: 998, gids: new Set([20]) });
  assert.equal(missing.status, 'FAIL');
  assert.match(missing.fix ?? '', /by-id/);
  const plain = join(dir, 'not-a-tty');
  writeFileSync(plain, '');
  assert.equal(checkSerialPort('meter', plain, 'edge-agent', { uid: 998, gids: new Set([20]) }).status, 'FAIL');
});

test('a healthy setup against a real Mosquitto passes every check', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: broker.url, username: 'gateway', password: 'right-password' } });
  assert.match(text, /^OK {4}config: /m);
  assert.match(text, /^OK {4}data directory: .* writable/m);
  assert.match(text, /^OK {4}DNS: 127\.0\.0\.1/m);
  assert.match(text, /^OK {4}TCP: /m);
  assert.match(text, /^OK {4}credentials: the broker accepted client/m);
  assert.match(text, /^OK {4}outbox: /m);
  assert.doesNotMatch(text, /right-password/, 'secrets never printed');
  assert.equal(code, 0, text);
});

test('refused credentials fail with a fix and a non-zero exit', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: broker.url, username: 'gateway', password: 'wrong' } });
  assert.match(text, /^FAIL {2}credentials: the broker refused the credentials/m);
  assert.match(text, /fix: check the username, password/);
  assert.equal(code, 1);
});

test('nothing listening fails at TCP, and the checks stop there', async () => {
  const { port } = await import('../helpers/free-port.ts').then((m) => m.freePort()).then((p) => ({ port: p }));
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: `mqtt://127.0.0.1:${port}` } });
  assert.match(text, /^FAIL {2}TCP: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/m);
  assert.doesNotMatch(text, /credentials/);
  assert.equal(code, 1);
});

test('an invalid config fails with the located problem', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: 'http://nope' } });
  assert.match(text, /^FAIL {2}config: /m);
  assert.match(text, /cloud\.url/);
  assert.equal(code, 1);
});

test('certificate verification turned off is a WARN on the TLS line, with what it would have refused', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: `mqtts://127.0.0.1:${tlsBroker.port}`, tls: { rejectUnauthorized: false } } });
  assert.match(text, /^WARN {2}TLS: certificate verification is off \(cloud\.tls\.rejectUnauthorized is false\): anyone on the network path can pose as mqtts:\/\/127\.0\.0\.1:\d+ and read or change readings and commands \(.*localhost.*; the certificate would not be trusted \(UNABLE_TO_VERIFY_LEAF_SIGNATURE\)\)$/m);
  assert.match(text, /fix: remove cloud\.tls\.rejectUnauthorized/);
  assert.doesNotMatch(text, /^OK {4}TLS/m);
  assert.match(text, /^OK {4}credentials: /m, 'a warning, not a failure: the link works');
  assert.equal(code, 0, text);
});

// The test certificates live two days, so the TLS line of a verified link is the expiry WARN.
const VERIFIED_TLS_LINE = /^(OK {4}TLS: .*handshake with localhost|WARN {2}TLS: certificate for localhost expires [^;\n]*)$/m;

test('a verified TLS link gets no link warning', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: `mqtts://127.0.0.1:${tlsBroker.port}`, tls: { ca: pki.caPath } } });
  assert.match(text, VERIFIED_TLS_LINE);
  assert.doesNotMatch(text, /verification is off|not encrypted/);
  assert.equal(code, 0, text);
});

test('a password over plain mqtt:// is a WARN, and the password is not printed', async () => {
  const { code, text } = await doctor({ cloud: { provider: 'mqtt', url: broker.url, username: 'gateway', password: 'right-password' } });
  assert.match(text, /^WARN {2}TLS: mqtt:\/\/127\.0\.0\.1:\d+ is not encrypted: the password and the data cross the network in clear\n {6}fix: use mqtts:\/\//m);
  assert.match(text, /^OK {4}credentials: the broker accepted/m);
  assert.doesNotMatch(text, /right-password/);
  assert.equal(code, 0, text);
});

test('an anonymous client on plain mqtt:// sends no secret: no warning', async () => {
  const anonymous = await startMosquitto();
  try {
    const { text } = await doctor({ cloud: { provider: 'mqtt', url: anonymous.url } });
    assert.doesNotMatch(text, /TLS/);
  } finally {
    await anonymous.cleanup();
  }
});

test('the warnings still show when the checks stop before TLS', async () => {
  const { freePort } = await import('../helpers/free-port.ts');
  const { text } = await doctor({ cloud: { provider: 'mqtt', url: `mqtt://127.0.0.1:${await freePort()}`, username: 'u', password: 'p4ss-w0rd' } });
  assert.match(text, /^FAIL {2}TCP: /m);
  assert.match(text, /^WARN {2}TLS: .* is not encrypted: the password/m);
  assert.doesNotMatch(text, /p4ss-w0rd/);
});

test('credentials over a plain URL and certificate checks off are WARNs for azure, alibaba, waylay and xyte too, with no secret printed', async () => {
  const { freePort } = await import('../helpers/free-port.ts');
  // Nothing listens there: doctor stops at TCP, and must still say what the config exposes.
  const url = `mqtt://127.0.0.1:${await freePort()}`;
  const secrets = { azure: 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=', alibaba: '0123456789abcdef0123456789abcdef', waylay: 'w4ylay-dev1ce-pass', xyte: 'xyte-access-key-0001' };
  const tls = { rejectUnauthorized: false };
  const clouds = {
    azure: { provider: 'azure', url, tls, connectionString: `HostName=hub.azure-devices.net;DeviceId=gw1;SharedAccessKey=${secrets.azure}` },
    alibaba: { provider: 'alibaba', url, tls, productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: secrets.alibaba, regionId: 'cn-shanghai', transport: 'tcp' },
    waylay: { provider: 'waylay', url, tls, resourceId: 'pump-7', username: 'dev-user', password: secrets.waylay, domain: 'app.waylay.io' },
    xyte: { provider: 'xyte', url, tls, id: 'dev-1', accessKey: secrets.xyte, mqttHubUrl: url },
  };
  const endpoint = url.replaceAll('.', '\\.').replaceAll('/', '\\/');
  for (const [provider, cloud] of Object.entries(clouds)) {
    const { code, text } = await doctor({ cloud });
    assert.match(text, /^FAIL {2}TCP: cannot connect to 127\.0\.0\.1:\d+ \(ECONNREFUSED\)/m, `${provider}:\n${text}`);
    assert.match(text, new RegExp(`^WARN {2}TLS: ${endpoint} is not encrypted: the [a-zA-Z ]+ and the data cross the network in clear\\n {6}fix: `, 'm'), `${provider}:\n${text}`);
    assert.match(text, /^WARN {2}TLS: certificate verification is off \(cloud\.tls\.rejectUnauthorized is false\)/m, `${provider}:\n${text}`);
    for (const secret of Object.values(secrets)) assert.ok(!text.includes(secret), `${provider}: a secret printed`);
    assert.equal(code, 1, `${provider}:\n${text}`);
  }
});

test('a device not registered yet with certificate checks off gets the WARN too, as check-config gives it', async () => {
  // Nothing is contacted: doctor stops at "not registered yet", where the agent starts on a fresh gateway.
  const cloud = { provider: 'xyte', tls: { rejectUnauthorized: false }, registration: { url: 'https://127.0.0.1:9/', sn: 'SN-1', hardwareKey: 'hw-key-0001', mac: 'b8:27:eb:12:34:56' } };
  const { code, text } = await doctor({ cloud });
  assert.match(text, /^WARN {2}cloud: not registered with Xyte yet/m, text);
  assert.match(text, /^WARN {2}TLS: certificate verification is off \(cloud\.tls\.rejectUnauthorized is false\): anyone on the network path can pose as the cloud .*, and learn the access key\n {6}fix: remove cloud\.tls\.rejectUnauthorized/m, text);
  assert.doesNotMatch(text, /hw-key-0001/);
  assert.equal(code, 0, text);
});

test('doctor against an IP-address host prints no deprecation warning (DEP0123: SNI with an IP address)', async () => {
  const file = configFile({ cloud: { provider: 'mqtt', url: `mqtts://127.0.0.1:${tlsBroker.port}`, tls: { ca: pki.caPath } } });
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'doctor', '--config', file]).catch((error: { stdout: string; stderr: string }) => error);
  assert.match(stdout, VERIFIED_TLS_LINE, stdout);
  assert.doesNotMatch(stderr, /DEP0123|DeprecationWarning/, stderr);
});
