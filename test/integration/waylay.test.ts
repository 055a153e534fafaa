// Waylay end to end: the emulator's rules against raw mqtt.js clients (so a lax emulator fails
// here), then the real agent in both topic profiles (TLS for "resources", plain TCP for
// "broker-manager"): every seq arrives, commands round-trip as events, a wrong password is
// refused with a clear log and backoff, and the ACL is never breached.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { makeTestPki, type TestPki } from '../helpers/test-ca.ts';
import { startWaylayEmulator, type WaylayEmulator, type WaylayProfile } from '../emulators/waylay/waylay-emulator.ts';

const DOMAIN = 'app.waylay.io';
const devices = [
  { resourceId: 'gw-0001', username: 'u-gw-0001', password: 'p-0001-secret' },
  { resourceId: 'gw-0002', username: 'u-gw-0002', password: 'p-0002-secret' },
];
const device = devices[0]!;

function connect(emulator: WaylayEmulator, options: mqtt.IClientOptions = {}) {
  return mqtt.connectAsync(emulator.url, { clientId: device.resourceId, username: device.username, password: device.password, reconnectPeriod: 0, ...options });
}

function closed(client: mqtt.MqttClient): Promise<void> {
  return new Promise((resolve) => (client.disconnected ? resolve() : client.once('close', () => resolve())));
}

describe('waylay emulator rules', () => {
  let emulator: WaylayEmulator;
  before(async () => {
    emulator = await startWaylayEmulator({ profile: 'resources', domain: DOMAIN, devices });
  });
  after(() => emulator.stop());

  it('refuses a wrong password and a wrong clientId at CONNECT', async () => {
    await assert.rejects(connect(emulator, { password: 'wrong' }), (error: Error & { code?: number }) => error.code === 4);
    await assert.rejects(connect(emulator, { clientId: 'someone-else' }), (error: Error & { code?: number }) => error.code === 2);
    assert.deepEqual(emulator.violations.map((v) => v.rule), ['credentials', 'client-id']);
    emulator.violations.length = 0;
  });

  it('confines a device to its own topics and closes the link on a breach', async () => {
    const client = await connect(emulator);
    // mqtt.js rejects a SUBACK holding 0x80 (refused) and carries the packet on the error.
    const suback = await client.subscribeAsync([`${DOMAIN}/resources/gw-0002/commands`, `${DOMAIN}/resources/gw-0001/commands`], { qos: 1 }).then(
      () => assert.fail('the subscription to another device was granted'),
      (error: Error & { packet?: { granted?: number[] } }) => error.packet?.granted,
    );
    assert.deepEqual(suback, [128, 1]);
    await client.publishAsync(`${DOMAIN}/resources/gw-0001/events`, JSON.stringify({ resource: 'gw-0001', timestamp: '2024-05-01T10:00:00Z', t: 1 }), { qos: 1 });
    await client.publishAsync(`${DOMAIN}/resources/gw-0001/events`, JSON.stringify([{ resource: 'gw-0001', t: 2 }]), { qos: 1 });
    const gone = closed(client);
    client.publish(`${DOMAIN}/resources/gw-0002/events`, JSON.stringify({ resource: 'gw-0002', t: 3 }), { qos: 1 });
    await gone;
    client.end(true);
    assert.deepEqual(emulator.violations.map((v) => v.rule), ['subscribe-acl', 'publish-acl']);
    assert.equal(emulator.events.length, 2);
    emulator.violations.length = 0;
  });

  it('checks the resource, the timestamp and the 128 KB limit', async () => {
    const bad = [
      JSON.stringify({ resource: 'gw-0002', t: 1 }),
      JSON.stringify({ resource: 'gw-0001', timestamp: 'yesterday', t: 1 }),
      JSON.stringify([{ resource: 'gw-0001', t: 1, pad: 'x'.repeat(128 * 1024) }]),
      'not json',
    ];
    for (const payload of bad) {
      const client = await connect(emulator);
      const gone = closed(client);
      client.publish(`${DOMAIN}/resources/gw-0001/events`, payload, { qos: 1 });
      await gone;
      client.end(true);
    }
    assert.deepEqual(
      emulator.violations.map((v) => v.rule),
      bad.map(() => 'payload'),
    );
    assert.match(emulator.violations[2]!.detail, /over the 131072-byte limit/);
    emulator.violations.length = 0;
  });
});

const profiles: { profile: WaylayProfile; tls: boolean }[] = [
  { profile: 'resources', tls: true },
  { profile: 'broker-manager', tls: false },
];

for (const { profile, tls } of profiles) {
  describe(`waylay agent end to end, ${profile} topics over ${tls ? 'TLS' : 'TCP'}`, { timeout: 90_000 }, () => {
    let pki: TestPki | undefined;
    let emulator: WaylayEmulator;
    let agent: AgentProcess;
    const COUNT = 300;

    const cloudConfig = (password: string) => ({
      provider: 'waylay',
      url: emulator.url,
      resourceId: device.resourceId,
      username: device.username,
      password,
      topics: profile,
      ...(profile === 'resources' ? { domain: DOMAIN } : {}),
      ...(pki ? { tls: { ca: pki.caPath } } : {}),
      keepalive: '30s',
      reconnectMax: '2s',
    });

    before(async () => {
      pki = tls ? makeTestPki() : undefined;
      emulator = await startWaylayEmulator({ profile, ...(profile === 'resources' ? { domain: DOMAIN } : {}), devices, ...(pki ? { tls: { cert: pki.cert, key: pki.key } } : {}) });
      agent = startAgent({
        cloud: cloudConfig(device.password),
        sensors: [{ id: 'sim', type: 'simulated', interval: '10ms', count: COUNT }],
        commands: { allow: ['ping', 'status'] },
      });
      await agent.waitForLog((l) => l.event === 'subscribed');
    });
    after(async () => {
      await agent?.cleanup();
      await emulator?.stop();
      pki?.cleanup();
    });

    it('delivers every seq in the Waylay event shape', async () => {
      await emulator.waitForObject(() => {
        const seen = new Set(emulator.events.flatMap((e) => e.objects.map((o) => o['sim.seq'])));
        for (let seq = 1; seq <= COUNT; seq++) if (!seen.has(seq)) return false;
        return true;
      }, 30_000);
      const sample = emulator.events[0]!.objects[0]!;
      assert.equal(sample.resource, device.resourceId);
      assert.equal(typeof sample.timestamp, 'number');
      assert.ok(emulator.events.every((e) => e.topic === emulator.topicsFor(device.resourceId).events));
      assert.deepEqual(emulator.violations, []);
    });

    it('round-trips commands as events, including malformed ones', async () => {
      await emulator.sendCommand(device.resourceId, { command: 'ping', id: 'c-1' });
      const pong = await emulator.waitForObject((o) => o.commandId === 'c-1');
      assert.equal(pong.status, 'ok');
      assert.equal((pong.result as { pong?: boolean }).pong, true);

      await emulator.sendCommand(device.resourceId, { action: 'status', commandId: 7 });
      const status = await emulator.waitForObject((o) => o.commandId === '7');
      assert.equal(status.status, 'ok');

      await emulator.sendCommand(device.resourceId, { command: 'reboot', id: 'c-2' });
      const refused = await emulator.waitForObject((o) => o.commandId === 'c-2');
      assert.equal(refused.status, 'error');

      await emulator.sendCommand(device.resourceId, 'this is not json');
      const malformed = await emulator.waitForObject((o) => o.status === 'error' && o.commandId === undefined);
      assert.equal((malformed.result as { code: number }).code, 400);
      assert.deepEqual(emulator.violations, []);
    });

    it('logs a clear error and backs off when the password is wrong', async () => {
      const wrong = startAgent({ cloud: cloudConfig('not-the-password'), sensors: [] });
      try {
        await wrong.waitForLog((l) => l.event === 'waylay-credentials-refused');
        const refusals = () => wrong.logs.filter((l) => l.event === 'connect-refused');
        await wrong.waitForLog((l) => l.event === 'connect-refused' && refusals().length >= 2, 20_000);
        assert.match(refusals()[0]!.msg, /bad user ?name or password/i);
        const scheduled = refusals();
        assert.ok(scheduled.length >= 1 && scheduled.every((l) => typeof l.delayMs === 'number' && l.delayMs >= 250), JSON.stringify(scheduled));
        assert.equal(wrong.logs.filter((l) => l.event === 'waylay-credentials-refused').length, 1, 'the hint is logged once per outage');
        assert.doesNotMatch(JSON.stringify(wrong.logs), /not-the-password/);
      } finally {
        await wrong.cleanup();
      }
      assert.ok(emulator.violations.length > 0 && emulator.violations.every((v) => v.rule === 'credentials'), JSON.stringify(emulator.violations));
      emulator.violations.length = 0;
    });
  });
}
