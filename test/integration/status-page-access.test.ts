// Who may look at the status page: open on loopback (like /health), token-only on any other
// address, and never the token itself in what the page or its data carry.
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';

const TOKEN = 'correct-horse-battery-staple-7';

describe('status page access', { timeout: 90_000 }, () => {
  const agents: AgentProcess[] = [];
  after(async () => {
    for (const agent of agents) await agent.cleanup();
  });

  async function agentListening(listen: (port: number) => string, token?: string): Promise<{ base: string; agent: AgentProcess }> {
    const port = await freePort();
    const agent = startAgent({
      agent: { id: 'page-access' },
      cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' },
      sensors: [{ id: 'boiler', type: 'simulated', interval: '200ms' }],
      health: { http: { listen: listen(port), ...(token ? { token } : {}) } },
    });
    agents.push(agent);
    await agent.waitForLog((l) => l.event === 'health-http-listening', 60_000);
    return { base: `http://127.0.0.1:${port}`, agent };
  }

  it('on a LAN address: 401 without the token, served with it (Bearer, or ?token= exchanged for a cookie)', async () => {
    const { base } = await agentListening((port) => `0.0.0.0:${port}`, TOKEN);
    for (const path of ['/', '/app.js', '/api/status', '/api/events']) {
      const refused = await fetch(`${base}${path}`);
      assert.equal(refused.status, 401, path);
      assert.equal((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer not-the-token' } })).status, 401, `${path} with a wrong token`);
    }
    const bearer = await fetch(`${base}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(bearer.status, 200);
    const data = await bearer.text();
    assert.match(data, /"agentId":"page-access"/);
    assert.doesNotMatch(data, new RegExp(TOKEN));

    const first = await fetch(`${base}/?token=${TOKEN}`, { redirect: 'manual' });
    assert.equal(first.status, 303);
    assert.equal(first.headers.get('location'), '/', 'the token leaves the address bar');
    const cookie = first.headers.get('set-cookie') ?? '';
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, new RegExp(TOKEN), 'the cookie holds a value derived from the token, not the token');
    const session = cookie.split(';')[0]!;
    const page = await fetch(`${base}/`, { headers: { cookie: session } });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    assert.doesNotMatch(await page.text(), new RegExp(TOKEN));
    assert.equal((await fetch(`${base}/api/status`, { headers: { cookie: session } })).status, 200);
    assert.equal((await fetch(`${base}/?token=wrong`, { redirect: 'manual' })).status, 401);
    assert.notEqual((await fetch(`${base}/health`)).status, 401, '/health needs no token');
  });

  it('on a LAN address without a token: the page is off (403) and the agent says so; /health is served', async () => {
    const { base, agent } = await agentListening((port) => `0.0.0.0:${port}`);
    assert.equal((await fetch(`${base}/`)).status, 403);
    assert.equal((await fetch(`${base}/api/status`)).status, 403);
    assert.ok(agent.logs.some((l) => l.event === 'status-page-off'));
    assert.notEqual((await fetch(`${base}/metrics`)).status, 403);
  });

  it('on loopback: open, like /health; nothing on it changes the agent', async () => {
    const { base } = await agentListening((port) => `127.0.0.1:${port}`);
    assert.equal((await fetch(`${base}/`)).status, 200);
    assert.equal((await fetch(`${base}/api/status`)).status, 200);
    for (const method of ['POST', 'PUT', 'DELETE']) assert.equal((await fetch(`${base}/api/status`, { method })).status, 405, method);
  });
});
