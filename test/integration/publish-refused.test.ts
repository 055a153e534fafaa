// A cloud that takes publishes and refuses them with an MQTT 5 PUBACK reason code: a real Mosquitto
// whose ACL denies the telemetry topic answers 0x87 "not authorized". The agent keeps every reading,
// pauses with backoff instead of resending at every commit, says why (log, /health, /metrics), and
// delivers every seq once the permission is granted.
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';

describe('publishes refused by the cloud', { timeout: 60_000 }, () => {
  // Rules before any `user` line apply to anonymous clients; the broker reads the file again on SIGHUP.
  const aclDir = mkdtempSync(join(tmpdir(), 'edge-agent-acl-'));
  const aclFile = join(aclDir, 'acl');
  const writeAcl = (rule: string) => {
    writeFileSync(aclFile, `${rule}\n`);
    chmodSync(aclFile, 0o644);
  };
  let broker: Mosquitto;
  let collector: Collector;
  let agent: AgentProcess | undefined;

  before(async () => {
    chmodSync(aclDir, 0o755);
    writeAcl('topic read edge-agent/#');
    broker = await startMosquitto({ configLines: ['allow_anonymous true', `acl_file ${aclFile}`] });
    collector = await collect(broker.url, 'edge-agent/+/telemetry/#');
  });
  after(async () => {
    await agent?.cleanup();
    await collector?.close();
    await broker?.cleanup();
    rmSync(aclDir, { recursive: true, force: true });
  });

  it('keeps the readings, backs off, reports why, and delivers every seq once allowed', async () => {
    const total = 300;
    const healthPort = await freePort();
    agent = startAgent({
      cloud: { provider: 'mqtt', url: broker.url, protocolVersion: 5, batchSize: 50 },
      sensors: [{ id: 'refused', type: 'simulated', interval: '10ms', perTick: 5, count: total }],
      health: { http: { listen: `127.0.0.1:${healthPort}` } },
    });
    const refused = await agent.waitForLog((l) => l.event === 'publish-refused', 15_000);
    assert.equal(refused.reasonCode, 0x87);
    assert.match(refused.msg, /refused a publish on edge-agent\/test-agent\/telemetry\/refused: not authorized .*stay in the outbox/);

    const health = await fetch(`http://127.0.0.1:${healthPort}/health`);
    assert.equal(health.status, 503);
    assert.match(JSON.stringify(await health.json()), /refused a publish/);
    const metrics = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    assert.ok(Number(/^edge_agent_publish_refused_total (\d+)$/m.exec(metrics)?.[1]) >= 1, metrics);
    assert.equal(collector.seqs.size, 0, 'nothing got through the ACL');

    writeAcl('topic readwrite edge-agent/#');
    broker.reload();
    await agent.waitForLog((l) => l.event === 'publish-accepted-again', 20_000);
    await collector.waitForSeqs(total, 20_000);
    assert.equal((await fetch(`http://127.0.0.1:${healthPort}/health`)).status, 200);
    // One warning per minute at most, however many batches were refused meanwhile.
    assert.equal(agent.logs.filter((l) => l.event === 'publish-refused').length, 1);
    assert.equal(await agent.stop(), 0);
    agent = undefined;
  });
});
