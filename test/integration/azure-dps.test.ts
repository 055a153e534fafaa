// Zero-touch provisioning end to end: real agents register through the DPS emulator (TLS, SAS from
// the derived key, 202 then polling, retry-after enforced), are assigned to the IoT Hub emulator,
// and deliver every reading; a restart does not register again; a revoked device registers again and
// resumes; refusals and throttling give located messages from `edge-agent register` and the agent.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAzureEmulator, type AzureEmulator } from '../emulators/azure/azure-emulator.ts';
import { startDpsEmulator, type DpsEmulator } from '../emulators/azure/dps-emulator.ts';
import { CLI, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';

const HUB_HOST = 'fleet-hub.azure-devices.net';
const SCOPE = '0ne000FA1E';
const GROUP_KEY = Buffer.from('edge-agent fleet enrollment group key, 48 bytes!').toString('base64');
const WRONG_KEY = Buffer.from('a group key from another DPS instance, 48 bytes.').toString('base64');
const SOLO_KEY = Buffer.from('individual enrollment key, 32 b').toString('base64');
const derived = (registrationId: string) => createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update(registrationId).digest('base64');

describe('Azure DPS zero-touch provisioning', { timeout: 180_000 }, () => {
  let pki: TestPki;
  let hub: AzureEmulator;
  let dps: DpsEmulator;
  let lonely: DpsEmulator;
  const agents: AgentProcess[] = [];
  let scratch: string;
  before(async () => {
    pki = makeTestPki([HUB_HOST]);
    scratch = mkdtempSync(join(tmpdir(), 'edge-agent-dps-'));
    hub = await startAzureEmulator({ host: HUB_HOST, devices: [], tls: pki });
    dps = await startDpsEmulator({
      idScope: SCOPE,
      tls: pki,
      hub,
      enrollments: [
        { kind: 'group', groupId: 'fleet', key: GROUP_KEY },
        { kind: 'individual', registrationId: 'solo-1', key: SOLO_KEY },
        { kind: 'individual', registrationId: 'off-1', key: SOLO_KEY, disabled: true },
        { kind: 'individual', registrationId: 'gw-x509', x509: true },
      ],
      retryAfterSeconds: 1,
      assigningPolls: 1,
    });
    // A DPS instance with only individual enrollments: a registration id none of them names is unknown.
    lonely = await startDpsEmulator({ idScope: SCOPE, tls: pki, hub, enrollments: [{ kind: 'individual', registrationId: 'solo-1', key: SOLO_KEY }], retryAfterSeconds: 1, assigningPolls: 0 });
  });
  after(async () => {
    for (const agent of agents) await agent.cleanup();
    await dps.stop();
    await lonely.stop();
    await hub.stop();
    rmSync(scratch, { recursive: true, force: true });
    pki.cleanup();
  });

  /** The fleet image: every gateway's config is this, with only its agent id (the registration id) different. */
  const fleetConfig = (agentId: string, provisioning: Record<string, unknown> = {}, sensor: Record<string, unknown> = {}) => ({
    agent: { id: agentId },
    cloud: { provider: 'azure', provisioning: { idScope: SCOPE, groupKey: GROUP_KEY, endpoint: dps.endpoint, retryMin: '1s', retryMax: '2s', ...provisioning }, url: hub.url, tls: { ca: pki.caPath }, reconnectMax: '2s' },
    sensors: [{ id: 'room', type: 'simulated', interval: '20ms', ...sensor }],
  });
  const start = (config: Record<string, unknown>, dir?: string) => {
    const agent = startAgent(config, dir ? { dir } : {});
    agents.push(agent);
    return agent;
  };
  const seqsOf = (deviceId: string) => new Set(hub.telemetry.filter((t) => t.deviceId === deviceId).flatMap((t) => (t.body as { sensor: string; values: { seq: number } }[]).filter((i) => i.sensor === 'room').map((i) => i.values.seq)));
  const registrationsOf = (registrationId: string) => dps.registrations.filter((r) => r.registrationId === registrationId);
  const everySeqUpTo = (deviceId: string, last: number) => {
    const seen = seqsOf(deviceId);
    return Array.from({ length: last }, (_, i) => i + 1).filter((seq) => !seen.has(seq));
  };

  const cli = (args: string[], config: Record<string, unknown>) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const dir = mkdtempSync(join(scratch, 'cli-'));
      const path = join(dir, 'agent.config.json');
      writeFileSync(path, JSON.stringify({ ...config, agent: { dataDir: join(dir, 'data'), ...(config.agent as object) } }));
      // Asynchronously: the emulators answering it live in this process.
      execFile(process.execPath, [CLI, ...args, '--config', path], { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }));
    });

  it('two gateways from one image register with their own device ids and deliver every reading; a restart does not register again', async () => {
    const a = start(fleetConfig('gw-a', {}, { count: 150 }));
    const b = start(fleetConfig('gw-b', {}, { count: 150 }));
    await hub.waitFor(() => seqsOf('gw-a').size >= 150 && seqsOf('gw-b').size >= 150, 30_000, 'all readings of both gateways');
    assert.deepEqual(everySeqUpTo('gw-a', 150), []);
    assert.deepEqual(everySeqUpTo('gw-b', 150), []);
    assert.deepEqual(registrationsOf('gw-a').map((r) => [r.deviceId, r.assignedHub]), [['gw-a', HUB_HOST]]);
    assert.deepEqual(registrationsOf('gw-b').map((r) => [r.deviceId, r.assignedHub]), [['gw-b', HUB_HOST]]);
    await a.waitForLog((l) => l.event === 'azure-dps-assigned');

    // The assignment is kept owner-only, atomically, and without the key.
    const file = join(a.dataDir, 'azure-dps-assignment.json');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const kept = readFileSync(file, 'utf8');
    assert.deepEqual(Object.keys(JSON.parse(kept) as object).sort(), ['assignedAt', 'assignedHub', 'attestation', 'deviceId', 'idScope', 'registrationId', 'substatus']);
    assert.ok(!kept.includes(derived('gw-a')) && !kept.includes(GROUP_KEY), 'no key on disk');
    assert.ok(!a.logs.some((l) => JSON.stringify(l).includes(GROUP_KEY) || JSON.stringify(l).includes(derived('gw-a'))), 'no key in the log');

    // A restart connects to the assigned hub straight away: DPS is not asked again.
    const requestsBefore = dps.requests.filter((r) => r.registrationId === 'gw-a').length;
    const connectionsBefore = hub.connections.filter((c) => c.deviceId === 'gw-a').length;
    assert.equal(await a.stop(), 0);
    const again = start(fleetConfig('gw-a', {}, { count: 150 }), a.dir);
    await hub.waitFor(() => hub.connections.filter((c) => c.deviceId === 'gw-a').length > connectionsBefore, 20_000, 'gw-a connected again');
    await again.waitForLog((l) => l.event === 'connected');
    assert.equal(dps.requests.filter((r) => r.registrationId === 'gw-a').length, requestsBefore, 'no registration after a restart');
    assert.equal(registrationsOf('gw-a').length, 1);
    await b.stop();
    await again.stop();
    assert.deepEqual(dps.violations, []);
    assert.deepEqual(hub.violations, []);
  });

  it('a device whose hub identity is revoked registers again and resumes, losing nothing', async () => {
    const gw = start(fleetConfig('gw-c', {}, { interval: '50ms' }));
    await hub.waitFor(() => seqsOf('gw-c').size >= 20, 20_000, 'gw-c delivering');
    hub.removeDevice('gw-c');
    const refused = await gw.waitForLog((l) => l.event === 'azure-dps-identity-refused', 30_000);
    assert.match(refused.msg, /refused device gw-c that DPS assigned/);
    await dps.waitFor(() => registrationsOf('gw-c').length === 2, 30_000, 'gw-c registered again');
    assert.equal(registrationsOf('gw-c')[1]?.substatus, 'reprovisionedToInitialAssignment');
    // Readings taken while the identity was gone arrive after the new registration: no gap.
    const last = Math.max(...seqsOf('gw-c'));
    await hub.waitFor(() => Math.max(...seqsOf('gw-c')) >= last + 20, 30_000, 'gw-c delivering again');
    assert.deepEqual(everySeqUpTo('gw-c', last + 20), []);
    await gw.stop();
    assert.deepEqual(dps.violations, []);
  });

  it('edge-agent register registers alone and prints the assignment; run again, it finds it kept', async () => {
    const dir = mkdtempSync(join(scratch, 'register-'));
    const path = join(dir, 'agent.config.json');
    writeFileSync(path, JSON.stringify({ ...fleetConfig('gw-d'), agent: { id: 'gw-d', dataDir: join(dir, 'data') } }));
    const run = () =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(process.execPath, [CLI, 'register', '--config', path], { encoding: 'utf8' }, (error, stdout, stderr) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }));
      });
    const first = await run();
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /device id: gw-d\nregistered now \(credentials saved in .*, mode 0600\)\nMQTT hub: mqtts:\/\/127\.0\.0\.1:\d+\nassigned hub: fleet-hub\.azure-devices\.net\nDPS: 127\.0\.0\.1:\d+ \(ID scope 0ne000FA1E\)\n/);
    assert.deepEqual(hub.deviceIds().includes('gw-d'), true);
    const second = await run();
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /already registered/);
    assert.equal(registrationsOf('gw-d').length, 1);
  });

  it('a wrong group key, an unknown registration and a disabled enrollment are refused with located messages (exit 78)', async () => {
    const wrong = await cli(['register'], fleetConfig('gw-e', { groupKey: WRONG_KEY }));
    assert.equal(wrong.status, 78, wrong.stderr);
    assert.match(wrong.stderr, /Azure DPS \(ID scope 0ne000FA1E\) registration failed, registration id "gw-e": DPS answered 401 .*check cloud\.provisioning\.groupKey: it must be the primary or secondary key of an enrollment group/);
    assert.ok(!wrong.stderr.includes(WRONG_KEY));

    const unknown = await cli(['register'], fleetConfig('gw-f', { endpoint: lonely.endpoint }));
    assert.equal(unknown.status, 78, unknown.stderr);
    assert.match(unknown.stderr, /registration id "gw-f": DPS answered 404 .*DPS has no enrollment that applies to this gateway: check cloud\.provisioning\.idScope and cloud\.provisioning\.registrationId/);

    const disabled = await cli(['register'], fleetConfig('off-1', { groupKey: undefined, deviceKey: SOLO_KEY }));
    assert.equal(disabled.status, 78, disabled.stderr);
    assert.match(disabled.stderr, /registration id "off-1": DPS says the enrollment is disabled.*enable it \(Azure portal: DPS > Manage enrollments\)/);

    // A connection string names the device: nothing to register, as before DPS (exit 64).
    const direct = await cli(['register'], { agent: { id: 'gw-k' }, cloud: { provider: 'azure', connectionString: `HostName=${HUB_HOST};DeviceId=gw-k;SharedAccessKey=${SOLO_KEY}` } });
    assert.equal(direct.status, 64, direct.stderr);
    assert.match(direct.stderr, /provider "azure" needs no registration step with this config/);

    const individual = await cli(['register'], fleetConfig('solo-1', { groupKey: undefined, deviceKey: SOLO_KEY }));
    assert.equal(individual.status, 0, individual.stderr);
    assert.match(individual.stdout, /device id: solo-1/);
  });

  it('X.509: the client certificate attests to DPS and the hub, and its common name is the registration id', async () => {
    const client = pki.client('gw-x509');
    const config = fleetConfig('some-agent-id', { groupKey: undefined }, { count: 30 });
    const withCertificate = { ...config, cloud: { ...config.cloud, tls: { ca: pki.caPath, cert: client.certPath, key: client.keyPath } } };
    const gw = start(withCertificate);
    await hub.waitFor(() => seqsOf('gw-x509').size >= 30, 30_000, 'the X.509 gateway delivering');
    assert.deepEqual(everySeqUpTo('gw-x509', 30), []);
    assert.equal(registrationsOf('gw-x509').length, 1);
    await gw.stop();

    const mismatch = { ...withCertificate, cloud: { ...withCertificate.cloud, provisioning: { ...withCertificate.cloud.provisioning, registrationId: 'gw-other' } } };
    const refused = await cli(['register'], mismatch);
    assert.equal(refused.status, 78, refused.stderr);
    assert.match(refused.stderr, /cloud\.provisioning\.registrationId "gw-other" is not the common name "gw-x509" of cloud\.tls\.cert/);
  });

  it('throttling: register exits 69 with the retry-after; the agent waits what DPS asked, then registers', async () => {
    dps.throttle(1, 3);
    const throttled = await cli(['register'], fleetConfig('gw-g'));
    assert.equal(throttled.status, 69, throttled.stderr);
    assert.match(throttled.stderr, /DPS is throttling registrations \(429, retry after 3 s\)/);

    dps.throttle(1, 3);
    const gw = start(fleetConfig('gw-h', {}, { count: 20 }));
    const waiting = await gw.waitForLog((l) => l.event === 'credentials-unavailable', 20_000);
    assert.match(waiting.msg, /DPS is throttling registrations \(429, retry after 3 s\).*retrying in 3 s/);
    await hub.waitFor(() => seqsOf('gw-h').size >= 20, 30_000, 'gw-h delivering after the throttle');
    assert.deepEqual(dps.violations, [], 'no request sooner than retry-after');
    await gw.stop();
  });

  it('an unreachable DPS is retried with backoff and says what to check', async () => {
    const closed = await freePort();
    const gw = start(fleetConfig('gw-j', { endpoint: `127.0.0.1:${closed}` }, { count: 5 }));
    const first = await gw.waitForLog((l) => l.event === 'credentials-unavailable', 20_000);
    assert.match(first.msg, /registration id "gw-j": cannot reach DPS: .*ECONNREFUSED .*check the uplink, DNS, and that port 8883 is open outbound to 127\.0\.0\.1:\d+ \(cloud\.provisioning\.endpoint.*; retrying in [12] s/);
    await gw.waitForLog((l) => l.event === 'credentials-unavailable' && l !== first, 20_000);
    await gw.stop();
  });

  it('doctor checks DPS, then the assigned hub once there is an assignment', async () => {
    const dir = mkdtempSync(join(scratch, 'doctor-'));
    const path = join(dir, 'agent.config.json');
    writeFileSync(path, JSON.stringify({ ...fleetConfig('gw-i'), agent: { id: 'gw-i', dataDir: join(dir, 'data') } }));
    const run = (command: string) =>
      new Promise<{ status: number | null; stdout: string }>((resolve) => {
        execFile(process.execPath, [CLI, command, '--config', path], { encoding: 'utf8' }, (error, stdout) => resolve({ status: error ? ((error as { code?: number }).code ?? null) : 0, stdout }));
      });
    const before = await run('doctor');
    assert.match(before.stdout, /OK +DPS DNS: /);
    assert.match(before.stdout, /OK +DPS TCP: 127\.0\.0\.1:\d+ reachable/);
    // WARN only because the test certificate expires within 30 days.
    assert.match(before.stdout, /(OK|WARN) +DPS TLS: (TLS\S* handshake|certificate) /);
    assert.match(before.stdout, /WARN +cloud: not registered with Azure DPS yet/);
    assert.equal(before.status, 0, 'not registered yet is no failure');
    assert.equal((await run('register')).status, 0);
    const afterRegistering = await run('doctor');
    assert.match(afterRegistering.stdout, /OK +credentials: the broker accepted client gw-i as fleet-hub\.azure-devices\.net\/gw-i\/\?api-version=/);
  });
});
