// Nothing lost across broker outages and link faults, proven end to end by sequence numbers:
// the real agent (child process), a real Mosquitto, and a TCP fault proxy between them.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent } from '../helpers/agent-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

const IN_FLIGHT = 8;
const BATCH = 200;

/** The first few runs of seqs in 1..count that never arrived, e.g. "1201-1400, 5000". */
function missingRanges(seqs: Map<number, number>, count: number): string {
  const runs: string[] = [];
  for (let s = 1; s <= count && runs.length < 10; s++) {
    if (seqs.has(s)) continue;
    const start = s;
    while (s < count && !seqs.has(s + 1)) s++;
    runs.push(start === s ? `${s}` : `${start}-${s}`);
  }
  return runs.join(', ');
}

/** A subscriber that re-subscribes after every broker restart and counts each seq it sees. */
const counters: { close: () => Promise<void> }[] = [];

function seqCounter(url: string) {
  const seqs = new Map<number, number>();
  const client: MqttClient = mqtt.connect(url, { reconnectPeriod: 100, clean: true, resubscribe: false, clientId: `counter-${process.pid}-${counters.length}` });
  let subscribed = false;
  client.on('connect', () => {
    subscribed = false;
    client.subscribe(['edge-agent/+/telemetry/#', 'counter-marker/#'], { qos: 1 }, () => (subscribed = true));
  });
  client.on('close', () => (subscribed = false));
  const markers = new Map<string, () => void>();
  client.on('message', (topic, payload) => {
    if (topic.startsWith('counter-marker/')) return markers.get(topic)?.();
    for (const item of JSON.parse(payload.toString()) as { values: { seq: number } }[]) seqs.set(item.values.seq, (seqs.get(item.values.seq) ?? 0) + 1);
  });
  const counter = {
    seqs,
    ready: () => waitUntil(() => subscribed, 10_000, 'the counter to subscribe'),
    all: (count: number, timeoutMs: number) =>
      waitUntil(
        () => {
          for (let s = 1; s <= count; s++) if (!seqs.has(s)) return false;
          return true;
        },
        timeoutMs,
        () => `all ${count} seqs (have ${seqs.size}; missing ${missingRanges(seqs, count)})`,
        50,
      ),
    /**
     * Resolves once everything the broker accepted before this call has reached the counter: a
     * marker published now is queued behind it, and the broker delivers a subscriber's messages in
     * order. Killing the broker before that would lose messages it acknowledged to the agent but had
     * not yet written to a busy counter, a loss the test would blame on the agent.
     */
    sync: async () => {
      const topic = `counter-marker/${++markerCount}`;
      const arrived = new Promise<void>((resolve) => markers.set(topic, resolve));
      await client.publishAsync(topic, '', { qos: 1 });
      await arrived;
      markers.delete(topic);
    },
    duplicates: () => [...seqs.values()].reduce((sum, n) => sum + n - 1, 0),
    close: async () => {
      // mqtt.js never calls back a second end(): close once.
      if (closed) return;
      closed = true;
      await client.endAsync(true);
    },
  };
  let closed = false;
  let markerCount = 0;
  counters.push(counter);
  return counter;
}

describe('link outages end to end', { timeout: 240_000 }, () => {
  let broker: Mosquitto;
  let proxy: FaultProxy;
  before(async () => {
    broker = await startMosquitto();
    proxy = await startFaultProxy(broker.port);
  });
  after(async () => {
    for (const counter of counters) await counter.close();
    await proxy.close();
    await broker.cleanup();
  });

  it('delivers 100,000 readings while the broker is killed 10 times and stopped once for 30 s', async (t) => {
    const total = 100_000;
    const counter = seqCounter(broker.url);
    await counter.ready();
    const agent = startAgent({
      cloud: { provider: 'mqtt', url: proxy.url, keepalive: 5, inFlight: IN_FLIGHT, batchSize: BATCH, reconnectMax: '2s' },
      sensors: [{ id: 'load', type: 'simulated', interval: '10ms', perTick: 50, count: total }],
      agent: { id: 'outage-agent', logLevel: 'info' },
    });
    // A failure here must not leave this agent running beside the next test's.
    t.after(() => agent.cleanup());
    await agent.waitForLog((l) => l.event === 'connected');
    // While the broker is down, the proxy refuses the agent until the counter has re-subscribed:
    // otherwise readings the broker acknowledged could reach it before anyone listens.
    const outage = async (downMs: number) => {
      proxy.setMode({ kind: 'refuse' });
      // Cut the agent off first, so that every message the agent saw acknowledged has been
      // delivered to the counter when the broker dies (sync).
      proxy.reset();
      await counter.sync();
      await broker.kill();
      // How long the broker stays down is the scenario, not a wait for an event.
      await sleep(downMs);
      await broker.start();
      await counter.ready();
      proxy.setMode({ kind: 'pass' });
    };
    for (let i = 0; i < 10; i++) {
      // The scenario: the broker stays up 0.7 s between kills, however far the agent got meanwhile.
      await sleep(700);
      await outage(300);
    }
    await outage(30_000);
    await counter.all(total, 120_000);
    const duplicates = counter.duplicates();
    const interruptions = 11;
    assert.ok(duplicates <= interruptions * IN_FLIGHT * BATCH, `${duplicates} duplicates, more than one in-flight window per interruption`);
    const status = agent.logs.filter((l) => l.event === 'connected').length;
    assert.ok(status >= 2, 'the agent reconnected');
    await counter.close();
    assert.equal(await agent.stop(), 0);
  });

  it('survives a black-holed, reset and slow link: detects it by keepalive and loses nothing', async (t) => {
    const total = 3000;
    const counter = seqCounter(broker.url);
    await counter.ready();
    const agent = startAgent({
      cloud: { provider: 'mqtt', url: proxy.url, keepalive: 5, inFlight: IN_FLIGHT, batchSize: BATCH, reconnectMax: '1s' },
      sensors: [{ id: 'faults', type: 'simulated', interval: '10ms', perTick: 5, count: total }],
      agent: { id: 'faults-agent' },
    });
    t.after(() => agent.cleanup());
    const disconnects = () => agent.logs.filter((l) => l.event === 'disconnected').length;
    const reconnected = () => agent.waitForLog((l) => l.event === 'connected' && agent.logs.indexOf(l) > agent.logs.findLastIndex((x) => x.event === 'disconnected'), 20_000);
    await agent.waitForLog((l) => l.event === 'connected');
    // Black-holed with readings on the way, not before the first one got through.
    await waitUntil(() => counter.seqs.size > 0, 10_000, 'readings to reach the broker');
    proxy.setMode({ kind: 'blackhole' });
    await agent.waitForLog((l) => l.event === 'disconnected', 20_000);
    proxy.setMode({ kind: 'pass' });
    await reconnected();
    const before = disconnects();
    proxy.reset();
    await agent.waitForLog(() => disconnects() > before, 20_000);
    await reconnected();
    proxy.setMode({ kind: 'delay', ms: 200 });
    // How long the link stays slow is the scenario, not a wait for an event.
    await sleep(1500);
    proxy.setMode({ kind: 'pass' });
    await counter.all(total, 60_000);
    assert.ok(agent.logs.filter((l) => l.event === 'connected').length >= 3, 'reconnected after the black hole and the reset');
    await counter.close();
    assert.equal(await agent.stop(), 0);
  });
});
