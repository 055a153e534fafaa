// The real agent against the Alibaba IoT emulator over tcp, tls and ws, with all three sign methods.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { registrationSign } from '../../src/cloud/adapters/alibaba/dynamic-registration.ts';
import { startAlibabaEmulator, type AlibabaDevice, type AlibabaEmulator, type AlibabaTransport } from '../emulators/alibaba/alibaba-emulator.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { makeTestPki } from '../helpers/test-ca.ts';

const DEVICE: AlibabaDevice = { productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: '0123456789abcdef0123456789abcdef' };
const pki = makeTestPki();
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  pki.cleanup();
});

async function setup(transport: AlibabaTransport, signMethod: string, cloud: Record<string, unknown> = {}, sensor: Record<string, unknown> = {}): Promise<{ hub: AlibabaEmulator; agent: AgentProcess }> {
  const hub = await startAlibabaEmulator({ transport, devices: [DEVICE], tls: pki });
  const agent = startAgent({
    cloud: { provider: 'alibaba', ...DEVICE, transport, signMethod, url: hub.url, endpoint: 'iot.example', keepalive: 60, reconnectMax: '2s', ...(transport === 'tls' ? { tls: { ca: pki.caPath } } : {}), ...cloud },
    sensors: [{ id: 'boiler', type: 'simulated', interval: '20ms', count: 100, ...sensor }],
    commands: { allow: ['ping', 'status', 'sensor.read'] },
  });
  cleanups.push(async () => {
    await agent.cleanup();
    await hub.stop();
  });
  return { hub, agent };
}

// Gateway health posts (once a minute) carry no boiler_seq.
const seqs = (hub: AlibabaEmulator) => new Set(hub.posts.flatMap((p) => (p.params.boiler_seq ? [p.params.boiler_seq.value as number] : [])));

describe('alibaba end to end', { timeout: 120_000 }, () => {
  for (const [transport, signMethod] of [['tcp', 'hmacsha256'], ['tls', 'hmacsha1'], ['ws', 'hmacmd5']] as const) {
    it(`over ${transport} with ${signMethod}: every reading arrives; service, property set and RRPC round trips`, async () => {
      const { hub, agent } = await setup(transport, signMethod);
      // Connected first (a start on a loaded machine has taken 20 s), then the readings.
      await agent.waitForLog((l) => l.event === 'connected', 60_000);
      await hub.waitFor(() => seqs(hub).size >= 100, 20_000, 'all 100 readings').catch((error: Error) => {
        throw new Error(`${error.message}; ${seqs(hub).size} arrived over ${hub.connections.length} connections; the agent's last log lines:\n${agent.logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${agent.stderr.join('').slice(-1500)}`);
      });
      assert.deepEqual([...seqs(hub)].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i + 1));
      assert.equal(hub.connections[0]!.signMethod, signMethod);
      assert.ok(hub.posts.every((p) => /^\d+$/.test(p.id)), 'Alink ids are decimal strings');
      const batched = hub.batches.reduce((n, b) => n + b.readings.length, 0);
      assert.ok(hub.batches.length > 0 && hub.batches.length < batched, `readings went in batch posts (${hub.batches.length} messages for ${batched} readings)`);
      const service = await hub.callService(DEVICE, 'ping', {});
      assert.equal(service.code, 200);
      assert.equal((service.data as { pong: boolean }).pong, true);
      const read = await hub.callService(DEVICE, 'sensor_read', { sensor: 'boiler' });
      assert.equal(read.code, 200);
      const property = await hub.setProperty(DEVICE, { boiler_setpoint: 21 });
      assert.equal(property.code, 404, 'property set reaches the dispatcher and gets an answer with its id');
      const rrpc = await hub.rrpc(DEVICE, 'status', {});
      assert.equal(rrpc.code, 200);
      assert.equal((rrpc.data as { agentId: string }).agentId, 'test-agent');
      const refused = await hub.rrpc(DEVICE, 'system_reboot', {});
      assert.equal(refused.code, 403);
      assert.deepEqual(hub.violations, []);
    });
  }

  it('a wrong secret is refused with a clear error and backoff', async () => {
    const { hub, agent } = await setup('tcp', 'hmacsha256', { deviceSecret: 'wrong' });
    // The window starts at the first refusal, not at the spawn: a slow start under load is not the backoff.
    await agent.waitForLog((l) => l.event === 'connect-refused', 20_000);
    // A window of the scenario, not a wait for an event: how many attempts fit in 4 s is what shows the backoff.
    await sleep(4000);
    const refusals = agent.logs.filter((l) => l.event === 'connect-refused');
    assert.ok(refusals.length >= 2 && refusals.length <= 16, `${refusals.length} attempts in 4 s after the first`);
    assert.match(String(refusals[0]!.msg), /bad user name or password/);
    assert.ok(hub.refusals.every((r) => /signature/.test(r)));
    assert.ok(!JSON.stringify(agent.logs).includes('"wrong"'));
  });
});

describe('the official Alibaba device SDK against the emulator', { timeout: 30_000 }, () => {
  it('connects (it signs with hmacsha1) and posts a property', async () => {
    const hub = await startAlibabaEmulator({ transport: 'tcp', devices: [DEVICE] });
    cleanups.push(() => hub.stop());
    // The SDK also subscribes to its shadow and session topics, which the platform allows by default.
    const { createRequire } = await import('node:module');
    const iot = createRequire(import.meta.url)('alibabacloud-iot-device-sdk') as { device(config: Record<string, unknown>): { on(event: string, fn: (...args: unknown[]) => void): void; postProps(params: unknown, cb: (res: unknown) => void): void; end(): void } };
    const device = iot.device({ ...DEVICE, brokerUrl: hub.url, keepalive: 60 });
    try {
      await new Promise<void>((resolve, reject) => {
        device.on('connect', () => resolve());
        device.on('error', (e) => reject(e instanceof Error ? e : new Error(String(e))));
      });
      assert.equal(hub.connections[0]!.signMethod, 'hmacsha1');
      device.postProps({ sdk_temp: 21.5 }, () => undefined);
      await hub.waitFor(() => hub.posts.some((p) => p.params.sdk_temp !== undefined), 10_000, 'the SDK property post');
      assert.deepEqual(hub.violations, []);
    } finally {
      device.end();
    }
  });
});

describe('alibaba dynamic registration', { timeout: 60_000 }, () => {
  it('registers with the product secret over HTTPS, keeps the device secret (0600) and connects with it', async () => {
    const productSecret = 'product-secret-for-tests';
    let registrations = 0;
    const server = createHttpsServer({ cert: pki.cert, key: pki.key }, (req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const ok = form.get('sign') === registrationSign(productSecret, form.get('productKey')!, form.get('deviceName')!, form.get('random')!);
        registrations++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(ok ? { code: 200, data: { productKey: DEVICE.productKey, deviceName: DEVICE.deviceName, deviceSecret: DEVICE.deviceSecret } } : { code: 6610, message: 'sign check failed' }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
    const port = (server.address() as { port: number }).port;
    const { hub, agent } = await setup('tcp', 'hmacsha256', { deviceSecret: undefined, productSecret, registrationUrl: `https://127.0.0.1:${port}/auth/register/device`, tls: { ca: pki.caPath } });
    await hub.waitFor(() => hub.connections.length > 0, 15_000, 'a connection with the registered secret');
    await agent.waitForLog((l) => l.event === 'alibaba-registered');
    const stored = join(agent.dataDir, 'alibaba-device-secret.json');
    assert.equal(statSync(stored).mode & 0o777, 0o600);
    assert.equal(JSON.parse(readFileSync(stored, 'utf8')).deviceSecret, DEVICE.deviceSecret);
    assert.equal(registrations, 1);
    assert.ok(!JSON.stringify(agent.logs).includes(DEVICE.deviceSecret), 'the secret is never logged');
  });
});
