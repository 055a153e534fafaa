// Commands through the real agent and a real broker, in the generic adapter's reply format:
// built-ins, the allowlist, and 10,000 fuzzed payloads that must never crash the agent.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';
import { startWriteTargets, type WriteTargets } from '../helpers/write-targets.ts';

interface Reply {
  id: string | null;
  ok: boolean;
  status: number;
  data?: unknown;
  error?: string;
}

describe('commands end to end (generic MQTT)', { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let agent: AgentProcess;
  let operator: MqttClient;
  let targets: WriteTargets;
  const replies: Reply[] = [];
  const waiting = new Map<string, (r: Reply) => void>();

  before(async () => {
    broker = await startMosquitto();
    targets = await startWriteTargets();
    agent = startAgent({
      cloud: { provider: 'mqtt', url: broker.url },
      sensors: [{ id: 'room', type: 'simulated', interval: '50ms' }, ...targets.sensors],
      commands: {
        allow: ['ping', 'status', 'config.get', 'config.set', 'sensor.read', 'outbox.purge', 'script.echo', 'serial.write', 'modbus.write'],
        scripts: { echo: { path: '/bin/echo', args: ['{word}'], params: { word: { pattern: '[a-z]+' } } } },
        // The fuzz test wants an answer to every one of its 10,000 payloads, sent within a second or two;
        // the default rate (10/s) would rightly answer most of them 429 or drop them (command-flood.test.ts).
        rate: { perSecond: 10_000, burst: 10_000 },
      },
    });
    await agent.waitForLog((l) => l.event === 'subscribed');
    operator = await mqtt.connectAsync(broker.url, { clientId: 'operator' });
    operator.on('message', (_t, payload) => {
      const reply = JSON.parse(payload.toString()) as Reply;
      replies.push(reply);
      if (reply.id !== null) waiting.get(reply.id)?.(reply);
    });
    await operator.subscribeAsync('edge-agent/test-agent/replies', { qos: 1 });
  });
  after(async () => {
    await operator?.endAsync();
    await agent?.cleanup();
    await broker?.cleanup();
    await targets?.cleanup();
  });

  let next = 0;
  function send(name: string, params: unknown = {}): Promise<Reply> {
    const id = `c${++next}`;
    const reply = new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no reply to ${name} (${id}); the agent's last log lines: ${agent.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`)), 10_000);
      waiting.set(id, (r) => (clearTimeout(timer), resolve(r)));
    });
    operator.publish('edge-agent/test-agent/commands', JSON.stringify({ id, name, params }), { qos: 1 });
    return reply;
  }

  it('ping and status', async () => {
    const ping = await send('ping');
    assert.equal(ping.ok, true);
    assert.equal((ping.data as { pong: boolean }).pong, true);
    const status = await send('status');
    assert.equal((status.data as { link: { state: string } }).link.state, 'connected');
  });

  it('serial.write and modbus.write reach the devices on their ports', async () => {
    const text = await send('serial.write', { sensor: 'display', text: 'HELLO\r\n' });
    assert.equal(text.ok, true, text.error);
    const hex = await send('serial.write', { sensor: 'display', hex: '414243' });
    assert.equal(hex.ok, true, hex.error);
    await waitUntil(() => targets.serialReceived().includes('ABC'), 5000, () => `ABC on the serial device (it has ${JSON.stringify(targets.serialReceived())})`);
    assert.equal(targets.serialReceived(), 'HELLO\r\nABC');
    const write = await send('modbus.write', { sensor: 'plc', table: 'holding', address: 10, values: [4321] });
    assert.equal(write.ok, true, write.error);
    assert.equal(targets.slave.units.get(3)!.holding[10], 4321);
    assert.equal((await send('modbus.write', { sensor: 'display', table: 'holding', address: 1, values: [1] })).status, 400);
  });

  it('config.get redacts nothing it should not and config.set refuses invalid changes', async () => {
    const got = await send('config.get');
    assert.equal((got.data as { cloud: { provider: string } }).cloud.provider, 'mqtt');
    const bad = await send('config.set', { config: { outbox: { sync: 'sometimes' } } });
    assert.equal(bad.status, 400);
    assert.match(bad.error!, /outbox\.sync/);
  });

  it('config.set writes the file atomically, keeps a backup, and applies it', async () => {
    const before = readFileSync(agent.configPath, 'utf8');
    const set = await send('config.set', { config: { sensors: [{ id: 'room', type: 'simulated', interval: '100ms' }] } });
    assert.equal(set.ok, true, set.error);
    assert.equal(readFileSync(`${agent.configPath}.bak`, 'utf8'), before);
    assert.match(readFileSync(agent.configPath, 'utf8'), /"100ms"/);
    // A command sent while the pipeline restarts waits in the broker's session, which the new one resumes.
    await agent.waitForLog((l) => l.event === 'disconnected' && l.planned === true);
    assert.equal((await send('ping')).ok, true);
    await agent.waitForLog((l) => l.event === 'reloaded');
  });

  it('config.set that changes nothing leaves the file and the pipeline alone', async () => {
    const before = statSync(agent.configPath);
    const sensors = (JSON.parse(readFileSync(agent.configPath, 'utf8')) as { sensors: unknown }).sensors;
    for (const config of [{}, { sensors }, { nothing: null }]) {
      const set = await send('config.set', { config });
      assert.equal(set.ok, true, set.error);
    }
    // The file is replaced (a new inode) before the reply is sent, so the reply is proof enough.
    const after = statSync(agent.configPath);
    assert.deepEqual([after.ino, after.mtimeMs], [before.ino, before.mtimeMs], 'the config file was rewritten');
    assert.equal(agent.logs.filter((l) => l.event === 'config-changed').length, 1);
  });

  it('sensor.read, outbox.purge and a script', async () => {
    const read = await send('sensor.read', { sensor: 'room' });
    assert.equal(read.ok, true, read.error);
    assert.equal((read.data as { readings: unknown[] }).readings.length, 1);
    const purge = await send('outbox.purge', { sensor: 'nobody' });
    assert.deepEqual(purge.data, { purged: 0 });
    const script = await send('script.echo', { word: 'hello' });
    assert.equal((script.data as { stdout: string }).stdout, 'hello\n');
    const injected = await send('script.echo', { word: 'hello; reboot' });
    assert.equal(injected.status, 400);
  });

  it('refuses what is not allowed and what is unknown', async () => {
    assert.equal((await send('agent.restart')).status, 403);
    assert.equal((await send('format.disk')).status, 404);
    assert.equal((await send('sensor.read', { sensor: 42 })).status, 400);
  });

  it('survives 10,000 fuzzed command payloads, answering each that can be answered', async () => {
    const before = replies.length;
    const names = ['ping', 'status', 'config.get', 'config.set', 'sensor.read', 'outbox.purge', 'script.echo', 'nope', '', '__proto__', 'constructor'];
    const shapes = [
      () => randomBytes(1 + Math.floor(Math.random() * 64)),
      () => Buffer.from(JSON.stringify({ id: `f${Math.random()}`, name: names[Math.floor(Math.random() * names.length)], params: randomValue(3) })),
      () => Buffer.from(JSON.stringify(randomValue(4))),
      () => Buffer.from('{"id": "x", "name": '),
      () => Buffer.from(JSON.stringify({ id: { nested: true }, name: 'ping' })),
      () => Buffer.from(JSON.stringify({ id: 'big', name: 'ping', params: { pad: 'x'.repeat(10_000) } })),
    ];
    const total = 10_000;
    for (let i = 0; i < total; i++) {
      operator.publish('edge-agent/test-agent/commands', shapes[i % shapes.length]!(), { qos: 1 });
      // The sender's pacing (part of the scenario): a pause every 500 payloads, as a busy operator would.
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    // Wait until every one is answered, or until no reply has come for 5 s (a loaded CI machine can
    // pause the agent for more than a second), then check the agent is alive and answering.
    while (replies.length - before < total) {
      const seen = replies.length;
      const progressed = await waitUntil(() => replies.length > seen, 5000, 'another reply').then(() => true, () => false);
      if (!progressed) break;
    }
    const answered = replies.length - before;
    // A shortfall names what the agent did meanwhile (a reload, a reconnect, drops) by event counts.
    const events: Record<string, number> = {};
    for (const line of agent.logs) events[String(line.event)] = (events[String(line.event)] ?? 0) + 1;
    assert.equal(answered, total, `${answered} of ${total} fuzzed commands were answered; the agent's log events: ${JSON.stringify(events)}`);
    assert.equal(agent.child.exitCode, null, 'the agent is still running');
    assert.equal((await send('ping')).ok, true);
    assert.ok(!agent.logs.some((l) => l.event === 'crash' || l.event === 'unhandled-rejection'));
  });
});

function randomValue(depth: number): unknown {
  const r = Math.random();
  if (depth <= 0 || r < 0.3) return [null, true, 0, -1, 1e308, 'x', '', '\u0000', '<script>', "'; DROP TABLE"][Math.floor(Math.random() * 10)];
  if (r < 0.65) return Object.fromEntries(Array.from({ length: Math.floor(Math.random() * 4) }, (_, i) => [['id', 'name', 'params', 'sensor', 'config', `k${i}`][Math.floor(Math.random() * 6)]!, randomValue(depth - 1)]));
  return Array.from({ length: Math.floor(Math.random() * 4) }, () => randomValue(depth - 1));
}
