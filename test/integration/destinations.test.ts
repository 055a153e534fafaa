// Several destinations end to end: the real agent, two real Mosquittos, two formats. One destination
// is cut off for a minute and the agent is kill -9ed meanwhile: the other keeps receiving live
// readings without delay, and afterwards each has every reading it should get, by outbox id, in its
// own format; the filtered destination never sees the other sensor. A destination whose credentials
// are refused holds back nothing and the outbox stays within its limit.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inflateSync } from 'node:zlib';
import { decodeCompact } from '../../src/cloud/adapters/mqtt/compact.ts';
import { fetchStatus, statusSocketPath } from '../../src/status/local-api.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

interface Received {
  id: string;
  sensor: string;
  ts: number;
  at: number;
}

/** Everything a collector got, decoded from the generic JSON format (topic per sensor) or the compact one. */
function received(collector: Collector): Received[] {
  return collector.messages.flatMap(({ topic, payload }, index) => {
    const at = arrivals.get(collector)?.[index] ?? 0;
    if (topic.endsWith('/compact')) return decodeCompact(payload, inflateSync).map((r) => ({ id: r.id, sensor: r.sensor, ts: r.ts, at }));
    const sensor = topic.split('/').at(-1)!;
    return (JSON.parse(payload.toString()) as { id: string; ts: number }[]).map((r) => ({ id: r.id, sensor, ts: r.ts, at }));
  });
}

/** When each message arrived, by collector, index for index with collector.messages. */
const arrivals = new Map<Collector, number[]>();
async function timedCollect(url: string, topic: string): Promise<Collector> {
  const collector = await collect(url, topic);
  const times: number[] = [];
  arrivals.set(collector, times);
  collector.client.on('message', () => times.push(Date.now()));
  return collector;
}

const ids = (items: Received[], sensor: string) => new Set(items.filter((r) => r.sensor === sensor).map((r) => r.id));

describe('several destinations end to end', { timeout: 240_000 }, () => {
  let brokerA: Mosquitto;
  let brokerB: Mosquitto;
  let proxyB: FaultProxy;
  let collectorA: Collector;
  let collectorB: Collector;
  const agents: AgentProcess[] = [];
  before(async () => {
    [brokerA, brokerB] = await Promise.all([startMosquitto(), startMosquitto()]);
    proxyB = await startFaultProxy(brokerB.port);
    collectorA = await timedCollect(brokerA.url, 'edge-agent/+/telemetry/#');
    collectorB = await timedCollect(brokerB.url, 'edge-agent/+/compact');
  });
  after(async () => {
    for (const agent of agents) await agent.cleanup();
    await collectorA.close();
    await collectorB.close();
    await proxyB.close();
    await Promise.all([brokerA.cleanup(), brokerB.cleanup()]);
  });

  it('one cut off for a minute and a kill -9 meanwhile: the other live without delay, then each gets all it should, in its own format', async () => {
    const config = {
      clouds: [
        { id: 'plant', provider: 'mqtt', url: brokerA.url },
        { id: 'cloud', provider: 'mqtt', url: proxyB.url, encoding: 'compact', sensors: ['load*'], reconnectMax: '2s' },
      ],
      // 1,000 readings at 50/s from each start of the agent; `room` goes to the plant only.
      sensors: [
        { id: 'load-1', type: 'simulated', interval: '20ms', count: 1000 },
        { id: 'room', type: 'simulated', interval: '500ms' },
      ],
      agent: { id: 'gw-two', logLevel: 'info' },
    };
    let agent = startAgent(config);
    agents.push(agent);
    await waitUntil(() => ids(received(collectorA), 'load-1').size > 0 && ids(received(collectorB), 'load-1').size > 0, 15_000, 'the first readings at both destinations');
    const cutAt = Date.now();
    proxyB.setMode({ kind: 'refuse' });
    proxyB.reset();
    await agent.waitForLog((l) => l.event === 'disconnected' && l.destination === 'cloud');
    // The plant keeps receiving: a reading taken now arrives within a second, as before the cut.
    // The 10 s are the window observed (the scenario's duration), not a wait for an event: a plant
    // that stalled part-way through would show as late or missing readings in it.
    await sleep(10_000);
    // The readings taken from 2 s to 8 s after the cut: every one of them must have reached the plant by now (checked
    // below, once all readings are in), each within a second of being taken. Counted against what the sensor took, not
    // against its nominal pace, which a loaded CI machine does not keep.
    const inWindow = (r: Received) => r.sensor === 'load-1' && r.ts > cutAt + 2000 && r.ts <= cutAt + 8000;
    const live = received(collectorA).filter(inWindow);
    assert.ok(live.length > 0, 'the plant received live readings after the cut');
    const worst = Math.max(...live.map((r) => r.at - r.ts));
    assert.ok(worst < 1000, `a live reading took ${worst} ms to reach the plant while the other destination was down`);
    // Wait for the sensor's 1,000 to be taken and stored, then kill -9 and start again on the same outbox.
    // (committed: a reading taken in the last commitInterval before a kill -9 may be lost, as the outbox promises).
    await waitUntil(
      async () => {
        const s = await fetchStatus(statusSocketPath(agent.dataDir));
        return s.sensors['load-1']!.readings >= 1000 && s.outbox.committedSeq >= s.outbox.lastSeq;
      },
      30_000,
      'the first 1,000 readings to be taken and committed',
    );
    await agent.kill();
    agent = startAgent(config, { dir: agent.dir });
    agents.push(agent);
    await agent.waitForLog((l) => l.event === 'connected' && l.destination === 'plant');
    // The cut lasts a minute: the scenario, not a wait for an event.
    await sleep(Math.max(0, cutAt + 60_000 - Date.now()));
    proxyB.setMode({ kind: 'pass' });
    await waitUntil(() => ids(received(collectorA), 'load-1').size >= 2000 && ids(received(collectorB), 'load-1').size >= 2000, 60_000, () => `2,000 load readings at each (plant ${ids(received(collectorA), 'load-1').size}, cloud ${ids(received(collectorB), 'load-1').size})`);
    const takenInWindow = new Set(received(collectorA).filter(inWindow).map((r) => r.id));
    const liveIds = new Set(live.map((r) => r.id));
    assert.deepEqual([...takenInWindow].filter((id) => !liveIds.has(id)), [], `every reading taken 2-8 s after the cut reached the plant while the other destination was down (${liveIds.size} of ${takenInWindow.size})`);
    const atA = ids(received(collectorA), 'load-1');
    const atB = ids(received(collectorB), 'load-1');
    assert.deepEqual([...atB].filter((id) => !atA.has(id)), [], 'the cloud got nothing the plant did not');
    assert.deepEqual([...atA].filter((id) => !atB.has(id)), [], 'the plant got nothing the cloud did not');
    assert.equal(atA.size, 2000);
    assert.ok(ids(received(collectorA), 'room').size > 0, 'the plant gets room');
    assert.equal(ids(received(collectorB), 'room').size, 0, 'the cloud, filtered to load*, never gets room');
    const status = await fetchStatus(statusSocketPath(agent.dataDir));
    assert.deepEqual(Object.keys(status.destinations ?? {}), ['plant', 'cloud']);
    assert.equal(status.destinations!.cloud!.dropped, 0);
  });

  it('a destination whose credentials are refused holds back nothing; the outbox stays within its limit', async () => {
    const secured = await startMosquitto({ configLines: [] });
    execFileSync('mosquitto_passwd', ['-b', '-c', join(secured.dir, 'passwd'), 'gateway', 'right-password'], { stdio: 'ignore' });
    secured.configLines = ['allow_anonymous false', `password_file ${join(secured.dir, 'passwd')}`];
    await secured.stop();
    await secured.start();
    const plant = await collect(brokerA.url, 'edge-agent/gw-refused/telemetry/#');
    const agent = startAgent({
      clouds: [
        { id: 'plant', provider: 'mqtt', url: brokerA.url },
        { id: 'cloud', provider: 'mqtt', url: secured.url, username: 'gateway', password: 'wrong-password', reconnectMax: '1s' },
      ],
      sensors: [{ id: 'load', type: 'simulated', interval: '10ms', perTick: 20 }],
      outbox: { maxBytes: '1MB', reservedBytes: '64KB' },
      agent: { id: 'gw-refused', logLevel: 'info' },
    });
    agents.push(agent);
    try {
      await agent.waitForLog((l) => l.event === 'connect-refused' && l.destination === 'cloud');
      const rss = () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${agent.child.pid}/status`, 'utf8'))![1]) * 1024;
      // 2,000 readings/s: far beyond 1 MB within seconds, all for a cloud that refuses. The duration is the scenario.
      await sleep(6000);
      const early = rss();
      await sleep(12_000);
      const late = rss();
      assert.ok(late - early < 20 * 1024 * 1024, `the agent's RSS grew from ${early} to ${late} bytes`);
      const status = await fetchStatus(statusSocketPath(agent.dataDir));
      assert.ok(status.outbox.bytes <= 1024 * 1024 * 1.1, `the outbox holds ${status.outbox.bytes} bytes, over its 1 MB`);
      assert.ok(status.destinations!.cloud!.dropped > 0, 'the refused destination is told what it lost');
      assert.equal(status.destinations!.plant!.state, 'connected');
      assert.ok(status.destinations!.plant!.pending < 2000, `the plant is not held back (${status.destinations!.plant!.pending} pending)`);
      assert.ok(plant.messages.length > 100, 'the plant kept receiving');
    } finally {
      await plant.close();
      await secured.cleanup();
    }
  });

  it('a command is answered on the destination it came from, and runs only if that destination allows it', async () => {
    const agent = startAgent({
      clouds: [
        { id: 'plant', provider: 'mqtt', url: brokerA.url, commands: { allow: ['ping'] } },
        { id: 'cloud', provider: 'mqtt', url: brokerB.url },
      ],
      // The cloud may change the config and restart the agent; the plant, with its own list, may not.
      commands: { allow: ['ping', 'status', 'config.set', 'agent.restart'] },
      agent: { id: 'gw-cmd', logLevel: 'info' },
    });
    agents.push(agent);
    await waitUntil(() => agent.logs.filter((l) => l.event === 'subscribed').length >= 2, 15_000, 'both destinations to subscribe');
    const ask = async (broker: Mosquitto, id: string, name: string) => {
      const replies = await collect(broker.url, 'edge-agent/gw-cmd/replies');
      try {
        await replies.client.publishAsync('edge-agent/gw-cmd/commands', JSON.stringify({ id, name, params: {} }), { qos: 1 });
        const reply = await replies.waitForMessage((_t, payload) => (JSON.parse(payload.toString()) as { id: string }).id === id);
        return JSON.parse(reply.payload.toString()) as { ok: boolean; status: number };
      } finally {
        await replies.close();
      }
    };
    assert.equal((await ask(brokerA, 'p1', 'ping')).ok, true, 'the plant may ping');
    assert.equal((await ask(brokerA, 'p2', 'status')).status, 403, 'the plant may not ask for status');
    assert.equal((await ask(brokerA, 'p3', 'config.set')).status, 403, 'the plant may not change the config');
    assert.equal((await ask(brokerA, 'p4', 'agent.restart')).status, 403, 'the plant may not restart the agent');
    assert.equal((await ask(brokerB, 'c1', 'status')).ok, true, 'the cloud may, by the top-level allow list');
  });
});
