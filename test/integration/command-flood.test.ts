// Issue #16: anyone who can publish on the commands topic could crash the agent with a few hundred
// commands whose name or parameter key is 128 KB long. The real agent, under the binary's own heap
// caps, and a real Mosquitto: a hostile flood, then the agent must still be alive and answer ping.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { BINARY_HEAP_FLAGS } from '../../scripts/binary/targets.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const COMMANDS = 'edge-agent/test-agent/commands';
const REPLIES = 'edge-agent/test-agent/replies';

describe('a hostile command flood (generic MQTT)', { timeout: 180_000 }, () => {
  let broker: Mosquitto;
  let agent: AgentProcess;
  let attacker: MqttClient;
  const replies: { id: string | null; ok: boolean; status: number; error?: string; bytes: number }[] = [];

  before(async () => {
    broker = await startMosquitto();
    agent = startAgent(
      { cloud: { provider: 'mqtt', url: broker.url }, sensors: [{ id: 'room', type: 'simulated', interval: '1s' }], commands: { allow: ['ping', 'status'] } },
      // The binary's heap caps: the flood that crashed the agent did so under these.
      { env: { NODE_OPTIONS: BINARY_HEAP_FLAGS.join(' ') } },
    );
    await agent.waitForLog((l) => l.event === 'subscribed', 30_000);
    attacker = await mqtt.connectAsync(broker.url, { clientId: 'attacker' });
    attacker.on('message', (_topic, payload) => {
      const reply = JSON.parse(payload.toString()) as { id: string | null; ok: boolean; status: number; error?: string };
      replies.push({ ...reply, bytes: payload.length });
    });
    await attacker.subscribeAsync(REPLIES, { qos: 1 });
  });
  after(async () => {
    await attacker?.endAsync();
    await agent?.cleanup();
    await broker?.cleanup();
  });

  it('survives 128 KB names and keys, 2 MB payloads and deep nesting, and still answers ping', async () => {
    const long = 'A'.repeat(128 * 1024);
    const publish = (payload: string | Buffer) => attacker.publishAsync(COMMANDS, payload, { qos: 1 });
    for (let i = 0; i < 300; i++) {
      await publish(JSON.stringify({ id: `name-${i}`, name: `${long}${i}` }));
      await publish(JSON.stringify({ id: `key-${i}`, name: 'ping', params: { [`${long}${i}`]: i } }));
      if (i % 30 === 0) {
        await publish(Buffer.alloc(2 * 1024 * 1024, 0x5b)); // 2 MB of "["
        await publish(`{"id":"deep-${i}","name":"ping","params":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`);
      }
    }
    // Then ping until one is answered: the agent may still be working through the flood, and the
    // rate refills by itself. Each ping waits for its own reply (or 5 s of silence: dropped).
    let pong: (typeof replies)[number] | undefined;
    const replyTo = (id: string) =>
      new Promise<(typeof replies)[number] | undefined>((resolve) => {
        const deadline = Date.now() + 5_000;
        const check = setInterval(() => {
          const reply = replies.find((r) => r.id === id);
          if (reply || Date.now() > deadline) resolve((clearInterval(check), reply));
        }, 20);
      });
    for (let attempt = 0; attempt < 60 && !pong; attempt++) {
      const id = `ping-${attempt}`;
      await publish(JSON.stringify({ id, name: 'ping' }));
      const reply = await replyTo(id);
      if (reply?.ok) pong = reply;
      // Time for the command rate to refill (the scenario, not a wait for an event): a refused ping is tried again a second later.
      else await new Promise((r) => setTimeout(r, 1000));
    }
    assert.equal(agent.child.exitCode, null, `the agent exited; stderr: ${agent.stderr.join('').slice(-2000)}`);
    assert.ok(pong, `no ping answered; the agent's last log lines:\n${agent.logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`);
    assert.ok(!agent.logs.some((l) => l.event === 'crash' || l.event === 'unhandled-rejection'));

    // Nothing echoed the 128 KB texts whole: not a reply, not a log line.
    const biggestReply = Math.max(...replies.map((r) => r.bytes));
    assert.ok(biggestReply < 4096, `a ${biggestReply}-byte reply`);
    const biggestLine = Math.max(...agent.logs.map((l) => JSON.stringify(l).length));
    assert.ok(biggestLine < 16 * 1024, `a ${biggestLine}-character log line`);
    // Beyond the rate the agent answered 429, and beyond that stayed silent (counted and logged once).
    assert.ok(replies.some((r) => r.status === 429));
    assert.ok(agent.logs.some((l) => l.event === 'command-flood-dropped'));
    const refused = replies.filter((r) => r.status === 400);
    assert.ok(refused.every((r) => !r.error || r.error.length < 400));
    const peak = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync(`/proc/${agent.child.pid}/status`, 'utf8'))?.[1];
    process.stdout.write(`# flood: ${replies.length} replies to ${300 * 2 + 20} hostile messages; agent peak RSS ${Math.round(Number(peak) / 1024)} MB\n`);
  });
});
