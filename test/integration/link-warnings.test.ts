// The real agent and CLI warn when certificates go unchecked or credentials go in clear, for every
// provider: in the log once per pipeline start, and in check-config with exit code 0.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, startAgent, type AgentProcess, type LogLine } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const SECRETS = ['sw0rdf1sh', 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo=', '0123456789abcdef0123456789abcdef', 'xyte-access-key-0001'] as const;
const LINK_EVENTS = new Set(['tls-verification-off', 'credentials-in-clear']);
const linkLines = (agent: AgentProcess) => agent.logs.filter((l) => LINK_EVENTS.has(l.event ?? ''));
const count = (agent: AgentProcess, event: string) => agent.logs.filter((l) => l.event === event).length;

/** Each provider sending its credentials over plain MQTT to a port where nothing listens, with certificate checks off. */
function unsafeClouds(port: number): Record<string, Record<string, unknown>> {
  const url = `mqtt://127.0.0.1:${port}`;
  const common = { url, tls: { rejectUnauthorized: false }, reconnectMax: '2s' };
  return {
    mqtt: { provider: 'mqtt', ...common, username: 'gw', password: SECRETS[0] },
    waylay: { provider: 'waylay', ...common, resourceId: 'pump-7', username: 'dev-user', password: SECRETS[0], domain: 'app.waylay.io' },
    azure: { provider: 'azure', ...common, connectionString: `HostName=hub.azure-devices.net;DeviceId=gw1;SharedAccessKey=${SECRETS[1]}` },
    alibaba: { provider: 'alibaba', ...common, productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: SECRETS[2], regionId: 'cn-shanghai', transport: 'tcp' },
    xyte: { provider: 'xyte', ...common, id: 'dev-1', accessKey: SECRETS[3], mqttHubUrl: url },
  };
}

function assertNoSecrets(lines: (LogLine | string)[]): void {
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  for (const secret of SECRETS) assert.ok(!text.includes(secret), `a secret leaked: ${secret}`);
}

describe('the running agent warns about an unsafe link', { timeout: 180_000 }, () => {
  const agents: AgentProcess[] = [];
  after(async () => {
    for (const agent of agents) await agent.cleanup();
  });

  it('for every provider: both warnings once, at warn level, right after "started", with no secret', async () => {
    const clouds = unsafeClouds(await freePort());
    // One at a time: agents starting side by side on a small CI runner take longer than a wait allows.
    for (const [provider, cloud] of Object.entries(clouds)) {
      const agent = startAgent({ cloud, sensors: [{ id: 'sim', type: 'simulated', interval: '1s' }] });
      agents.push(agent);
      await agent.waitForLog((l) => l.event === 'credentials-in-clear', 30_000);
      // After a connection attempt too: the adapter must not add its own.
      await agent.waitForLog((l) => l.event === 'connect-failed', 30_000);
      const started = agent.logs.findIndex((l) => l.event === 'started');
      assert.ok(started >= 0, provider);
      const lines = linkLines(agent);
      assert.deepEqual(lines.map((l) => [l.level, l.event]), [['warn', 'tls-verification-off'], ['warn', 'credentials-in-clear']], provider);
      assert.ok(agent.logs.indexOf(lines[0]!) > started, `${provider}: logged after "started"`);
      for (const line of lines) assert.equal(line.endpoint, clouds[provider]!.url, provider);
      assertNoSecrets([...agent.logs, ...agent.stderr]);
      await agent.cleanup();
    }
  });
});

describe('once per pipeline start', { timeout: 60_000 }, () => {
  let broker: Mosquitto;
  let agent: AgentProcess | undefined;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await agent?.cleanup();
    await broker.cleanup();
  });

  it('not again on a reconnect; again after a reload', async () => {
    agent = startAgent({ cloud: { provider: 'mqtt', url: broker.url, username: 'gw', password: SECRETS[0], reconnectMax: '1s' }, sensors: [{ id: 'sim', type: 'simulated', interval: '100ms' }] });
    await agent.waitForLog((l) => l.event === 'connected');
    await agent.waitForLog((l) => l.event === 'credentials-in-clear');
    await broker.kill();
    await agent.waitForLog((l) => l.event === 'disconnected');
    await broker.start();
    const connects = count(agent, 'connected');
    await agent.waitForLog((l) => l.event === 'connected' && count(agent!, 'connected') > connects);
    assert.equal(count(agent, 'credentials-in-clear'), 1, 'a reconnect repeats nothing');

    agent.signal('SIGHUP');
    await agent.waitForLog((l) => l.event === 'reloaded');
    await agent.waitForLog((l) => l.event === 'credentials-in-clear' && count(agent!, 'credentials-in-clear') === 2);
    assert.equal(count(agent, 'tls-verification-off'), 0);
    assertNoSecrets(agent.logs);
  });
});

describe('check-config warns and still exits 0', () => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-link-warnings-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints a WARNING line with a fix for each, for every provider, and no secret', async () => {
    const clouds = unsafeClouds(1883);
    for (const [provider, cloud] of Object.entries(clouds)) {
      const file = join(dir, `${provider}.json`);
      writeFileSync(file, JSON.stringify({ version: 1, agent: { id: 'gw1', dataDir: join(dir, 'data') }, cloud, sensors: [{ id: 'sim', type: 'simulated', interval: '1s' }] }));
      const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, 'check-config', '--config', file]);
      assert.match(stdout, /^OK /, provider);
      assert.match(stdout, /^WARNING {4}certificate verification is off \(cloud\.tls\.rejectUnauthorized is false\)/m, provider);
      assert.match(stdout, /^WARNING {4}mqtt:\/\/127\.0\.0\.1:1883 is not encrypted: .* cross the network in clear$/m, provider);
      assert.equal(stdout.match(/^ {11}fix: /gm)?.length, 2, provider);
      assertNoSecrets([stdout, stderr]);
    }
  });
});
