// agent.update refusals that need no binary: not allowed, no public key configured, bad params,
// and an agent run from source (node), which cannot replace itself. Nothing is downloaded.
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { publicKeyLine } from '../../src/update/public-keys.ts';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

interface Reply {
  id: string;
  ok: boolean;
  status: number;
  error?: string;
}

describe('agent.update refused before any download', { timeout: 180_000 }, () => {
  let broker: Mosquitto;
  let operator: MqttClient;
  const agents: AgentProcess[] = [];
  const replies: Reply[] = [];
  const key = publicKeyLine(generateKeyPairSync('ed25519').publicKey);
  const params = { url: 'https://updates.example.com/edge-agent-linux-x64', sha256: 'a'.repeat(64), signature: Buffer.alloc(64, 1).toString('base64'), version: '9.0.0' };

  before(async () => {
    broker = await startMosquitto();
    operator = await mqtt.connectAsync(broker.url, { clientId: 'refusals-operator' });
    operator.on('message', (_t, payload) => replies.push(JSON.parse(payload.toString()) as Reply));
    await operator.subscribeAsync('edge-agent/+/replies', { qos: 1 });
  });
  after(async () => {
    await operator?.endAsync();
    for (const agent of agents) await agent.cleanup();
    await broker?.cleanup();
  });

  async function ask(id: string, config: Record<string, unknown>, sent: unknown): Promise<{ reply: Reply; agent: AgentProcess }> {
    const agent = startAgent({ agent: { id }, cloud: { provider: 'mqtt', url: broker.url }, ...config });
    agents.push(agent);
    await agent.waitForLog((l) => l.event === 'subscribed', 60_000);
    await operator.publishAsync(`edge-agent/${id}/commands`, JSON.stringify({ id: `${id}-1`, name: 'agent.update', params: sent }), { qos: 1 });
    await waitUntil(() => replies.some((r) => r.id === `${id}-1`), 30_000, `a reply from ${id}`);
    return { reply: replies.find((r) => r.id === `${id}-1`)!, agent };
  }

  it('not in commands.allow: 403, as any command', async () => {
    const { reply } = await ask('upd-not-allowed', { update: { publicKeys: [key] } }, params);
    assert.equal(reply.status, 403);
    assert.match(reply.error ?? '', /"agent\.update" is not allowed on this gateway/);
  });

  it('no update.publicKeys: 403, saying so', async () => {
    const { reply } = await ask('upd-no-keys', { commands: { allow: ['agent.update'] } }, params);
    assert.equal(reply.status, 403);
    assert.match(reply.error ?? '', /accepts no agent updates: update\.publicKeys is empty/);
  });

  it('run from source: 409, nothing downloaded', async () => {
    const { reply, agent } = await ask('upd-source', { commands: { allow: ['agent.update'] }, update: { publicKeys: [key] } }, params);
    assert.equal(reply.status, 409);
    assert.match(reply.error ?? '', /runs from source/);
    assert.equal(existsSync(join(agent.dataDir, 'update/download')), false);
  });

  it('params checked before anything: a missing field, an unknown one', async () => {
    const { reply } = await ask('upd-params', { commands: { allow: ['agent.update'] }, update: { publicKeys: [key] } }, { ...params, sha256: 'xyz', extra: 1 });
    assert.equal(reply.status, 400);
    assert.match(reply.error ?? '', /sha256/);
  });

  it('the keys and the download trust cannot be changed from the cloud (config.set), other update settings can', async () => {
    const id = 'upd-trust';
    const agent = startAgent({ agent: { id }, cloud: { provider: 'mqtt', url: broker.url }, commands: { allow: ['config.set'] }, update: { publicKeys: [key] } });
    agents.push(agent);
    await agent.waitForLog((l) => l.event === 'subscribed', 60_000);
    const stranger = publicKeyLine(generateKeyPairSync('ed25519').publicKey);
    const sendSet = async (n: number, config: unknown) => {
      await operator.publishAsync(`edge-agent/${id}/commands`, JSON.stringify({ id: `${id}-${n}`, name: 'config.set', params: { config } }), { qos: 1 });
      await waitUntil(() => replies.some((r) => r.id === `${id}-${n}`), 30_000, `reply ${n}`);
      return replies.find((r) => r.id === `${id}-${n}`)!;
    };
    const added = await sendSet(1, { update: { publicKeys: [key, stranger] } });
    assert.equal(added.status, 400);
    assert.match(added.error ?? '', /update\.publicKeys and update\.tls can only be changed in the config file on the gateway/);
    const insecure = await sendSet(2, { update: { tls: { rejectUnauthorized: false } } });
    assert.equal(insecure.status, 400);
    const longer = await sendSet(3, { update: { confirmWithin: '10m' } });
    assert.equal(longer.status, 200, JSON.stringify(longer));
  });

  it('a config with a key that is not Ed25519, or a CA file that is not there, is refused at check-config, with the path', async () => {
    const missingCa = startAgent({ cloud: { provider: 'mqtt', url: broker.url }, update: { tls: { ca: '/nonexistent/ca.pem' } } });
    agents.push(missingCa);
    assert.equal(await missingCa.exited, 78);
    assert.match(missingCa.stderr.join('\n'), /update\.tls\.ca.*no file at \/nonexistent\/ca\.pem/s);
    const agent = startAgent({ cloud: { provider: 'mqtt', url: broker.url }, update: { publicKeys: ['not a key'] } });
    agents.push(agent);
    assert.equal(await agent.exited, 78);
    assert.match(agent.stderr.join('\n'), /update\.publicKeys\[0\].*44 base64 characters/s);
  });
});
