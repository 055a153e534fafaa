// kill -9 again and again while readings flow live, half of the kills in the middle of a link
// outage (readings in the outbox journal, not yet acknowledged). Afterwards, per run, the readings
// that reached the broker are a gapless 1..M, and the last of them was taken within the commit
// window of the kill: nothing older than the window was lost, and nothing unacknowledged. The
// duplicates stay within the documented bound (README: "What a crash can cost").
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

const ROUNDS = 6;
const INTERVAL_MS = 20;
const IN_FLIGHT = 4;
const BATCH = 50;
/** The commit window is 100 ms; a kill can find the commit timer late on a loaded machine. */
const WINDOW_SLACK_MS = 1000;
/** Outages last this long, so losing the journal would show as seconds of missing readings. */
const OUTAGE_MS = 3000;

interface Seen {
  seqs: Map<number, number>;
  tsBySeq: Map<number, number>;
}

describe('kill -9 while readings flow', { timeout: 180_000 }, () => {
  let broker: Mosquitto;
  let proxy: FaultProxy;
  let subscriber: MqttClient;
  let agent: AgentProcess | undefined;
  const seen = new Map<string, Seen>();
  let dir: string | undefined;

  before(async () => {
    broker = await startMosquitto();
    proxy = await startFaultProxy(broker.port);
    subscriber = await mqtt.connectAsync(broker.url, { clientId: `kill-live-${process.pid}`, clean: true });
    subscriber.on('message', (_topic, payload) => {
      for (const item of JSON.parse(payload.toString()) as { sensor: string; ts: number; values: { seq: number } }[]) {
        let s = seen.get(item.sensor);
        if (!s) seen.set(item.sensor, (s = { seqs: new Map(), tsBySeq: new Map() }));
        s.seqs.set(item.values.seq, (s.seqs.get(item.values.seq) ?? 0) + 1);
        s.tsBySeq.set(item.values.seq, item.ts);
      }
    });
    await subscriber.subscribeAsync('edge-agent/+/telemetry/#', { qos: 1 });
  });
  after(async () => {
    await agent?.cleanup();
    await subscriber.endAsync(true);
    await proxy.close();
    await broker.cleanup();
  });

  it(`loses nothing older than the commit window across ${ROUNDS} kills, half of them during an outage`, async () => {
    const killedAt = new Map<string, number>();
    const start = (sensorId: string) => {
      const next = startAgent(
        {
          cloud: { provider: 'mqtt', url: proxy.url, keepalive: 5, inFlight: IN_FLIGHT, batchSize: BATCH, reconnectMax: '1s' },
          // A new sensor id per run: its seqs start at 1 again, and every run is checked on its own.
          sensors: [{ id: sensorId, type: 'simulated', interval: `${INTERVAL_MS}ms` }],
          agent: { logLevel: 'info' },
        },
        dir ? { dir } : {},
      );
      dir = next.dir;
      return next;
    };
    for (let round = 1; round <= ROUNDS; round++) {
      const sensorId = `run-${round}`;
      agent = start(sensorId);
      await waitUntil(() => (seen.get(sensorId)?.seqs.size ?? 0) >= 25, 30_000, `readings of ${sensorId} at the broker`);
      if (round % 2 === 0) {
        // The link dies: readings pile up in the outbox (its journal) unacknowledged.
        proxy.setMode({ kind: 'blackhole' });
        // The outage's length is the scenario (seconds of readings only in the journal), not a wait for an event.
        await sleep(OUTAGE_MS);
      }
      killedAt.set(sensorId, Date.now());
      await agent.kill();
      proxy.setMode({ kind: 'pass' });
      proxy.reset();
    }
    // The last start delivers what every killed run left in the outbox.
    agent = start('final');
    for (const sensorId of killedAt.keys()) {
      await waitUntil(
        () => {
          const s = seen.get(sensorId);
          if (!s) return false;
          const max = Math.max(...s.seqs.keys());
          return s.seqs.size === max && (s.tsBySeq.get(max) ?? 0) >= killedAt.get(sensorId)! - WINDOW_SLACK_MS;
        },
        60_000,
        () => {
          const s = seen.get(sensorId);
          const max = s ? Math.max(...s.seqs.keys()) : 0;
          return `${sensorId}: a gapless run of seqs whose last was taken within the commit window of the kill (have ${s?.seqs.size ?? 0} distinct, max ${max}, taken ${max ? killedAt.get(sensorId)! - s!.tsBySeq.get(max)! : '?'} ms before the kill)`;
        },
        100,
      );
    }
    let duplicates = 0;
    for (const s of seen.values()) for (const n of s.seqs.values()) duplicates += n - 1;
    // Documented bound per kill: what was in flight, plus what was acknowledged within the last commit window.
    const perKill = IN_FLIGHT * BATCH + Math.ceil(WINDOW_SLACK_MS / INTERVAL_MS);
    assert.ok(duplicates <= ROUNDS * perKill, `${duplicates} duplicates over ${ROUNDS} kills, more than ${perKill} per kill`);
    assert.equal(await agent.stop(), 0);
    agent = undefined;
  });
});
