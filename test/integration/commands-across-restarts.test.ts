// Commands sent while the link blinks: the real agent, a real Mosquitto that keeps sessions (as a
// cloud broker does) restarted three times while an operator sends a ping every 150 ms. Every
// command the broker accepted is answered, none runs twice, and one sent longer ago than
// commands.maxAge is refused with its reason instead of run late.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const COMMANDS = 'edge-agent/test-agent/commands';

interface Reply {
  id: string;
  ok: boolean;
  status: number;
  error?: string;
}

describe('commands across broker restarts', { timeout: 180_000 }, () => {
  let broker: Mosquitto;
  let agent: AgentProcess | undefined;
  let replies: Collector | undefined;
  let operator: MqttClient | undefined;
  before(async () => {
    broker = await startMosquitto({ persistence: true });
  });
  after(async () => {
    await operator?.endAsync(true);
    await replies?.close();
    await agent?.cleanup();
    await broker.cleanup();
  });

  it('answers every command the broker accepted, once, and refuses one older than commands.maxAge', async () => {
    replies = await collect(broker.url, 'edge-agent/test-agent/replies');
    agent = startAgent({
      cloud: { provider: 'mqtt', url: broker.url, keepalive: 10 },
      sensors: [{ id: 'room', type: 'simulated', interval: '500ms' }],
      commands: { allow: ['ping'], maxAge: '1m' },
      agent: { logLevel: 'info' },
    });
    await agent.waitForLog((l) => l.event === 'subscribed');
    operator = await mqtt.connectAsync(broker.url, { clientId: `operator-${process.pid}`, reconnectPeriod: 100, clean: true });
    const accepted = new Set<string>();
    let sending = true;
    let next = 0;
    const client = operator;
    const sender = (async () => {
      while (sending) {
        const id = `p${next++}`;
        client.publish(COMMANDS, JSON.stringify({ id, name: 'ping', params: {} }), { qos: 1 }, (error) => {
          if (!error) accepted.add(id);
        });
        await sleep(150);
      }
    })();
    for (let restart = 1; restart <= 3; restart++) {
      await sleep(2000);
      await broker.stop();
      await sleep(1000);
      const connected = agent.logs.filter((l) => l.event === 'connected').length;
      await broker.start();
      // Commands keep coming while the agent is still finding its way back: those are the ones at stake.
      await agent.waitForLog(() => agent!.logs.filter((l) => l.event === 'connected').length > connected, 30_000);
    }
    await sleep(2000);
    sending = false;
    await sender;
    const answered = () => new Set(replies!.messages.map((m) => (JSON.parse(m.payload.toString()) as Reply).id));
    const deadline = Date.now() + 30_000;
    while ([...accepted].some((id) => !answered().has(id)) && Date.now() < deadline) await sleep(200);
    const missing = [...accepted].filter((id) => !answered().has(id));
    const statuses = new Map<number, number>();
    for (const m of replies.messages) {
      const { status } = JSON.parse(m.payload.toString()) as Reply;
      statuses.set(status, (statuses.get(status) ?? 0) + 1);
    }
    console.log(`${next} pings sent, ${accepted.size} accepted by the broker across 3 restarts, ${accepted.size - missing.length} answered; replies by status: ${[...statuses].map(([s, n]) => `${n}× ${s}`).join(', ')}`);
    assert.deepEqual(missing, [], `${missing.length} accepted commands were never answered`);
    const runs = new Map<string, number>();
    for (const line of agent.logs) if (line.event === 'command' && line.outcome === 'ok') runs.set(String(line.id), (runs.get(String(line.id)) ?? 0) + 1);
    const twice = [...runs].filter(([, n]) => n > 1).map(([id]) => id);
    assert.deepEqual(twice, [], 'a redelivered command is answered from the first result, never run again');

    const sentAt = new Date(Date.now() - 2 * 60 * 60_000).toISOString();
    await operator.publishAsync(COMMANDS, JSON.stringify({ id: 'stale', name: 'ping', params: {}, timestamp: sentAt }), { qos: 1 });
    const stale = await replies.waitForMessage((_topic, payload) => (JSON.parse(payload.toString()) as Reply).id === 'stale');
    const reply = JSON.parse(stale.payload.toString()) as Reply;
    assert.equal(reply.status, 410);
    assert.match(reply.error ?? '', /sent 2h ago, longer than commands\.maxAge \(1m\)/);
    assert.ok(!agent.logs.some((l) => l.event === 'command' && l.id === 'stale' && l.outcome === 'ok'), 'the stale command did not run');
    assert.equal(await agent.stop(), 0);
    agent = undefined;
  });
});
