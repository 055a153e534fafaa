// The session against real brokers: backoff with jitter while refused, dead-link detection by keepalive.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { CloudAdapter, ConnectOptions } from '../../src/cloud/adapter.ts';
import { CloudSession } from '../../src/cloud/session.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { waitUntil } from '../helpers/wait.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

function adapterFor(url: string, extra: Partial<ConnectOptions> = {}): CloudAdapter {
  return {
    provider: 'test',
    maxMessageBytes: 1 << 20, defaultLingerMs: 0,
    connectOptions: () => Promise.resolve({ url, clientId: `session-test-${Math.random().toString(16).slice(2)}`, protocolVersion: 4, keepaliveSeconds: 60, ...extra }),
    subscriptions: () => [],
    encodeTelemetry: () => ({ messages: [], rejected: [] }),
    decodeIncoming: () => [],
    encodeReply: () => [],
  };
}

describe('cloud session', () => {
  let secured: Mosquitto;
  let open: Mosquitto;
  before(async () => {
    secured = await startMosquitto({ configLines: [] });
    execFileSync('mosquitto_passwd', ['-b', '-c', join(secured.dir, 'passwd'), 'gateway', 'right-password'], { stdio: 'ignore' });
    secured.configLines = ['allow_anonymous false', `password_file ${join(secured.dir, 'passwd')}`];
    await secured.stop();
    await secured.start();
    open = await startMosquitto();
  });
  after(async () => {
    await secured.cleanup();
    await open.cleanup();
  });

  it('backs off with jitter up to the cap while the broker refuses the credentials, without a storm', async () => {
    const { log, events } = captureLog();
    const session = new CloudSession({ adapter: adapterFor(secured.url, { username: 'gateway', password: 'wrong' }), log, connectTimeoutMs: 2000, reconnectBaseMs: 100, reconnectMaxMs: 800 });
    // The real broker's refusal, several times; the backoff's shape over minutes is checked on a fake clock (test/unit/cloud-session.test.ts).
    const started = Date.now();
    session.start();
    await waitUntil(() => events('connect-refused').length >= 4, 15_000, 'four refused attempts');
    await session.stop();
    const elapsed = Date.now() - started;
    // One line per refused attempt, with its retry delay (repeats within a minute at debug level).
    const refusals = events('connect-refused');
    const delays = refusals.map((e) => e.delayMs as number);
    assert.ok(refusals.length >= 3, `expected several refused attempts, saw ${refusals.length}`);
    assert.match(String(refusals[0]!.msg), /bad user name or password|not authorized/);
    assert.ok(delays.every((d) => d >= 250 && d <= 800), `delays outside [250, 800]: ${delays.join(', ')}`);
    // Jitter is asserted with a seeded generator on a fake clock (test/unit/cloud-session.test.ts): the first
    // attempts here sit on the 250 ms floor, so a handful of real ones may legitimately look alike.
    // With a 250 ms floor, at most one attempt per 250 ms; a storm would be hundreds.
    assert.ok(refusals.length <= elapsed / 250 + 1, `reconnect storm: ${refusals.length} attempts in ${elapsed} ms`);
    assert.equal(session.status().state, 'stopped');
    assert.match(session.status().lastError ?? '', /refused/);
  });

  it('detects a black-holed link by keepalive and reconnects when it heals', async () => {
    const proxy: FaultProxy = await startFaultProxy(open.port);
    const { log, events } = captureLog();
    const session = new CloudSession({ adapter: adapterFor(proxy.url, { keepaliveSeconds: 1 }), log, connectTimeoutMs: 2000, reconnectBaseMs: 100, reconnectMaxMs: 500 });
    let connects = 0;
    session.on('connected', () => connects++);
    try {
      session.start();
      await waitUntil(() => connects >= 1, 15_000, 'the first connect');
      // Waits for a condition with a deadline: once the event has come, no timer is left running.
      let disconnected: string | undefined;
      session.once('disconnected', (reason: string) => (disconnected = reason));
      proxy.setMode({ kind: 'blackhole' });
      await waitUntil(() => disconnected !== undefined, 10_000, 'the disconnect: a dead link must be noticed by keepalive');
      assert.equal(disconnected, 'closed', 'a dead link must be noticed by keepalive');
      await assert.rejects(session.publish({ topic: 't', payload: 'x' }), /link is down/);
      const connectsBefore = connects;
      proxy.setMode({ kind: 'pass' });
      await waitUntil(() => connects > connectsBefore, 10_000, 'the reconnect after the link healed');
      await session.publish({ topic: 't', payload: 'after-heal' });
      assert.ok(events('connected').length >= 2);
    } finally {
      await session.stop();
      await proxy.close();
    }
  });
});
