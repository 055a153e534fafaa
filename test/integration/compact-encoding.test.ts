// The compact encoding end to end: the real agent, a real Mosquitto, a link that drops in between.
// Every reading arrives, decoded by the README's decoder, with the id the JSON encoding would give it.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inflateSync } from 'node:zlib';
import mqtt, { type MqttClient } from 'mqtt';
import { decodeCompact } from '../../src/cloud/adapters/mqtt/compact.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

const TOTAL = 3000;

describe('compact encoding end to end', { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let proxy: FaultProxy;
  let subscriber: MqttClient;
  let agent: AgentProcess | undefined;
  const ids = new Map<number, string>();
  let messages = 0;
  let properties: Record<string, unknown> | undefined;

  before(async () => {
    broker = await startMosquitto();
    proxy = await startFaultProxy(broker.port);
    subscriber = await mqtt.connectAsync(broker.url, { protocolVersion: 5, clientId: `compact-${process.pid}` });
    subscriber.on('message', (_topic, payload, packet) => {
      messages++;
      properties ??= packet.properties as Record<string, unknown>;
      for (const reading of decodeCompact(payload, inflateSync)) ids.set((reading.values as { seq: number }).seq, reading.id);
    });
    await subscriber.subscribeAsync('edge-agent/+/compact', { qos: 1 });
  });
  after(async () => {
    await agent?.cleanup();
    await subscriber.endAsync(true);
    await proxy.close();
    await broker.cleanup();
  });

  it('delivers every reading across a link drop, with stable ids, in far fewer messages than readings', async () => {
    agent = startAgent({
      cloud: { provider: 'mqtt', url: proxy.url, protocolVersion: 5, encoding: 'compact', reconnectMax: '1s' },
      sensors: [
        { id: 'boiler', type: 'simulated', interval: '10ms', perTick: 5, count: TOTAL },
        { id: 'pump', type: 'simulated', interval: '1s' },
      ],
      agent: { logLevel: 'info' },
    });
    await agent.waitForLog((l) => l.event === 'connected');
    await waitUntil(() => ids.size >= 200, 30_000, 'the first readings');
    proxy.setMode({ kind: 'refuse' });
    proxy.reset();
    // The scenario: the link stays down a while, readings pile up.
    await sleep(1500);
    proxy.setMode({ kind: 'pass' });
    const all = () => {
      for (let seq = 1; seq <= TOTAL; seq++) if (!ids.has(seq)) return false;
      return true;
    };
    await waitUntil(all, 60_000, () => `all ${TOTAL} readings (have ${ids.size})`);
    const prefix = /^test-agent-[0-9a-z]{8}-/.exec(ids.get(1)!)?.[0];
    assert.ok(prefix, `an id like test-agent-<epoch>-<seq>: ${ids.get(1)}`);
    assert.ok([...ids.values()].every((id) => id.startsWith(prefix) && /^\d+$/.test(id.slice(prefix.length))), 'every id is the store prefix and a seq');
    assert.equal(new Set(ids.values()).size, ids.size, 'ids are unique');
    assert.ok(messages < TOTAL / 10, `${messages} messages for ${TOTAL} readings`);
    assert.equal(properties?.contentType, 'application/vnd.edge-agent.compact+json');
    assert.deepEqual({ ...(properties?.userProperties as object) }, { 'content-encoding': 'deflate' });
    assert.equal(await agent.stop(), 0);
    agent = undefined;
  });
});
