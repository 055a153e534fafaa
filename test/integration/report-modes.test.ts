// Report modes end to end: the real agent reads two line sensors on ptys, one reported on change,
// one per window, and a real Mosquitto receives exactly the readings the modes let through, with
// the aggregate values the window's lines make. Status and /metrics count taken and reported.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { fetchStatus, statusSocketPath } from '../../src/status/local-api.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { openDevice, ptyPair, type PtyPair } from '../helpers/pty-pair.ts';
import { waitUntil } from '../helpers/wait.ts';

interface Item {
  ts: number;
  values: Record<string, unknown>;
}


describe('report modes end to end', { timeout: 60_000 }, () => {
  let broker: Mosquitto;
  let collector: Collector;
  let agent: AgentProcess;
  let boilerPty: PtyPair;
  let tankPty: PtyPair;
  let healthPort: number;
  let operator: MqttClient;
  let next = 0;
  const send = async (name: string, params: unknown) => {
    const id = `r${++next}`;
    const reply = new Promise<{ ok: boolean; data?: unknown; error?: string }>((resolve) =>
      operator.on('message', (_topic, payload) => {
        const parsed = JSON.parse(payload.toString()) as { id: string; ok: boolean };
        if (parsed.id === id) resolve(parsed);
      }),
    );
    await operator.publishAsync('edge-agent/test-agent/commands', JSON.stringify({ id, name, params }), { qos: 1 });
    return reply;
  };
  const items = (sensor: string): Item[] => collector.messages.filter((m) => m.topic.endsWith(`/telemetry/${sensor}`)).flatMap((m) => JSON.parse(m.payload.toString()) as Item[]);

  before(async () => {
    broker = await startMosquitto();
    collector = await collect(broker.url, 'edge-agent/+/telemetry/#');
    [boilerPty, tankPty] = await Promise.all([ptyPair(), ptyPair()]);
    healthPort = await freePort();
    agent = startAgent({
      cloud: { provider: 'mqtt', url: broker.url },
      sensors: [
        { id: 'boiler', type: 'serial-line', port: boilerPty.sensorPath, decoder: { type: 'kv' }, report: { mode: 'change', deadband: 0.2, heartbeat: 'off' } },
        { id: 'tank', type: 'serial-line', port: tankPty.sensorPath, decoder: { type: 'kv' }, report: { mode: 'window', every: '2s', aggregates: ['min', 'max', 'avg', 'count', 'first', 'last'] } },
        // Its seq changes every time and is ignored; its values never move 1000: only the first reading goes.
        { id: 'room', type: 'simulated', interval: '50ms', report: { mode: 'change', deadband: 1000, heartbeat: 'off', fields: { seq: { ignore: true } } } },
      ],
      commands: { allow: ['sensor.read', 'config.set'] },
      health: { http: { enabled: true, listen: `127.0.0.1:${healthPort}` }, telemetry: false },
    });
    for (const pty of [boilerPty, tankPty]) await agent.waitForLog((l) => l.event === 'serial-opened' && l.port === pty.sensorPath);
    await agent.waitForLog((l) => l.event === 'subscribed');
    operator = await mqtt.connectAsync(broker.url, { clientId: 'operator' });
    await operator.subscribeAsync('edge-agent/test-agent/replies', { qos: 1 });
  });
  after(async () => {
    await operator.endAsync();
    await agent.cleanup();
    await collector.close();
    await Promise.all([boilerPty.cleanup(), tankPty.cleanup()]);
    await broker.cleanup();
  });

  it('"change" with deadband 0.2: exactly the lines that moved, a string that changed, and nothing else', async () => {
    const boiler = await openDevice(boilerPty);
    const lines = ['t=20 door=closed', 't=20.1 door=closed', 't=20.25 door=closed', 't=20.3 door=open', 't=20.35 door=open', 't=20.2 door=open', 't=20.6 door=open', 't=99 door=open'];
    await boiler.send(lines.map((l) => `${l}\n`).join(''));
    await waitUntil(() => items('boiler').some((i) => i.values.t === 99), 15_000, () => `the last line at the broker (have ${JSON.stringify(items('boiler').map((i) => i.values))})`);
    assert.deepEqual(
      items('boiler').map((i) => i.values),
      [
        { t: 20, door: 'closed' },
        { t: 20.25, door: 'closed' },
        { t: 20.3, door: 'open' },
        { t: 20.6, door: 'open' },
        { t: 99, door: 'open' },
      ],
    );
    await boiler.close();
  });

  it('"window" every 2 s: one reading per window with its aggregates, labelled with the window start; a quiet window sends nothing', async () => {
    const tank = await openDevice(tankPty);
    // Lines are sent a little after a 2 s wall-clock boundary, so each burst falls in one window:
    // the boundaries are the scenario.
    const nextBoundary = async () => {
      const now = Date.now();
      await sleep(2000 - (now % 2000) + 200);
      return Date.now() - (Date.now() % 2000);
    };
    const first = await nextBoundary();
    await tank.send('level=10\nlevel=14\nlevel=12\n');
    await nextBoundary();
    const third = await nextBoundary();
    await tank.send('level=7\nlevel=8 alarm=high\n');
    await waitUntil(() => items('tank').length >= 2, 15_000, () => `two windows at the broker (have ${items('tank').length})`);
    assert.deepEqual(
      items('tank').map((i) => [i.ts - first, i.values]),
      [
        [0, { level_min: 10, level_max: 14, level_avg: 12, level_count: 3, level_first: 10, level_last: 12 }],
        [third - first, { level_min: 7, level_max: 8, level_avg: 7.5, level_count: 2, level_first: 7, level_last: 8, alarm_count: 1, alarm_first: 'high', alarm_last: 'high' }],
      ],
    );
    await tank.close();
  });

  it('status and /metrics count what each sensor took and what it reported', async () => {
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    assert.match(metrics, /edge_agent_sensor_readings_total\{sensor="boiler"\} 8\n/);
    assert.match(metrics, /edge_agent_sensor_reported_total\{sensor="boiler"\} 5\n/);
    assert.match(metrics, /edge_agent_sensor_readings_total\{sensor="tank"\} 5\n/);
    assert.match(metrics, /edge_agent_sensor_reported_total\{sensor="tank"\} 2\n/);
    const status = await fetchStatus(statusSocketPath(agent.dataDir));
    const { readings, reported, report } = status.sensors.boiler!;
    assert.deepEqual({ readings, reported, report }, { readings: 8, reported: 5, report: 'change' });
  });

  it('sensor.read answers the raw value whatever the reduction, and config.set changes the mode at run time', async () => {
    await waitUntil(() => items('room').length >= 1, 10_000, 'the first room reading');
    const read = await send('sensor.read', { sensor: 'room' });
    assert.equal(read.ok, true, read.error);
    const raw = (read.data as { readings: { values: { seq: number } }[] }).readings[0]!;
    assert.ok(raw.values.seq > 1, 'a fresh reading, not the last reported one');
    assert.equal(items('room').length, 1, 'nothing but the first room reading was reported');
    const set = await send('config.set', {
      config: {
        sensors: [
          { id: 'boiler', type: 'serial-line', port: boilerPty.sensorPath, decoder: { type: 'kv' } },
          { id: 'room', type: 'simulated', interval: '50ms', report: { mode: 'every' } },
        ],
      },
    });
    assert.equal(set.ok, true, set.error);
    await waitUntil(() => items('room').length >= 10, 10_000, () => `room readings every 50 ms after the change (have ${items('room').length})`);
  });
});
