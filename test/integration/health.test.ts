// /health and /metrics over real HTTP from the real agent; health telemetry arriving at a real broker.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

const metric = (text: string, name: string) => Number(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\S+)$`, 'm').exec(text)?.[1]);

describe('health end to end', { timeout: 60_000 }, () => {
  let broker: Mosquitto;
  let agent: AgentProcess;
  let gateway: Collector;
  let base: string;
  before(async () => {
    broker = await startMosquitto();
    gateway = await collect(broker.url, 'edge-agent/+/telemetry/gateway');
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    agent = startAgent({
      cloud: { provider: 'mqtt', url: broker.url, reconnectMax: '1s' },
      sensors: [{ id: 'room', type: 'simulated', interval: '50ms' }],
      health: { schedule: '* * * * * *', http: { listen: `127.0.0.1:${port}` }, linkDownAfter: '10s', sensorSilentAfter: '1h' },
    });
    await agent.waitForLog((l) => l.event === 'health-http-listening');
  });
  after(async () => {
    await gateway.close();
    await agent.cleanup();
    await broker.cleanup();
  });

  it('serves /metrics whose counters move', async () => {
    const readings = (text: string) => metric(text, 'edge_agent_sensor_readings_total{sensor="room"}');
    const first = await (await fetch(`${base}/metrics`)).text();
    let second = first;
    await waitUntil(
      async () => {
        second = await (await fetch(`${base}/metrics`)).text();
        return readings(second) > readings(first) && metric(second, 'edge_agent_published_readings_total') > 0;
      },
      10_000,
      () => `the readings and published counters to move (readings ${readings(first)}, then ${readings(second)}; published ${metric(second, 'edge_agent_published_readings_total')})`,
      100,
    );
    assert.ok(readings(second) > readings(first));
    assert.ok(metric(second, 'edge_agent_published_readings_total') > 0);
    assert.equal(metric(second, 'edge_agent_link_up'), 1);
    // What reached the block device (0 on a tmpfs data dir, which has none): the figure fleets watch for SD card wear.
    assert.ok(metric(second, 'edge_agent_storage_written_bytes_total') >= 0);
    assert.equal((await fetch(`${base}/nope`)).status, 404);
  });

  it('sends gateway health telemetry through the cloud', async () => {
    const message = await gateway.waitForMessage(() => true, 10_000);
    const [item] = JSON.parse(message.payload.toString()) as { sensor: string; values: Record<string, number> }[];
    assert.equal(item!.sensor, 'gateway');
    for (const key of ['cpu.load1', 'mem.usedPercent', 'disk.usedPercent', 'outbox.pending', 'link.reconnects', 'sensor.room.readings']) assert.equal(typeof item!.values[key], 'number', key);
  });

  it('flips /health to 503 with a reason when the link stays down, and back', async () => {
    assert.equal((await fetch(`${base}/health`)).status, 200);
    await broker.stop();
    let response = { status: 200, text: '' };
    await waitUntil(
      async () => {
        const answer = await fetch(`${base}/health`);
        response = { status: answer.status, text: await answer.text() };
        return response.status !== 200;
      },
      30_000,
      '/health to stop answering 200 once the link has been down for linkDownAfter',
      200,
    );
    assert.equal(response.status, 503);
    const body = JSON.parse(response.text) as { status: string; reasons: string[] };
    assert.equal(body.status, 'unhealthy');
    assert.match(body.reasons.join(), /cloud link/);
    await broker.start();
    await agent.waitForLog((l) => l.event === 'connected' && agent.logs.filter((x) => x.event === 'connected').length >= 2, 15_000);
    assert.equal((await fetch(`${base}/health`)).status, 200);
  });
});
