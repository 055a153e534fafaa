// The session against real brokers: backoff with jitter while refused, dead-link detection by keepalive.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CloudAdapter, ConnectOptions } from '../../src/cloud/adapter.ts';
import { CloudSession } from '../../src/cloud/session.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

function adapterFor(url: string, extra: Partial<ConnectOptions> = {}): CloudAdapter {
  return {
    provider: 'test',
    maxMessageBytes: 1 << 20,
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
    session.start();
    await sleep(6000);
    await session.stop();
    // One line per refused attempt, with its retry delay (repeats within a minute at debug level).
    const refusals = events('connect-refused');
    const delays = refusals.map((e) => e.delayMs as number);
    assert.ok(refusals.length >= 3, `expected several refused attempts, saw ${refusals.length}`);
    assert.match(String(refusals[0]!.msg), /bad user name or password|not authorized/);
    assert.ok(delays.every((d) => d >= 250 && d <= 800), `delays outside [250, 800]: ${delays.join(', ')}`);
    assert.ok(new Set(delays).size > 1, `delays show no jitter: ${delays.join(', ')}`);
    // With a 250 ms floor, 6 s allow at most 24 attempts; a storm would be hundreds.
    assert.ok(refusals.length <= 24, `reconnect storm: ${refusals.length} attempts in 6 s`);
    assert.equal(session.status().state, 'stopped');
    assert.match(session.status().lastError ?? '', /refused/);
  });

  it('logs one line for a failed attempt, probes quietly until the endpoint answers, and a planned stop is not a warning', async () => {
    const { log, lines, events } = captureLog();
    const broker = await startMosquitto();
    await broker.stop();
    const session = new CloudSession({
      adapter: adapterFor(broker.url),
      log,
      connectTimeoutMs: 2000,
      reconnectMaxMs: 60_000,
      reconnectTiming: { probeMinMs: 50, probeMaxMs: 100, probeTimeoutMs: 500, spreadMs: 50, failedCapMs: 1000 },
    });
    const connected = new Promise<void>((resolve) => session.once('connected', resolve));
    try {
      session.start();
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (events('connect-failed').length > 0) resolve(clearInterval(check));
        }, 20);
      });
      await sleep(1000); // some twenty probes go by
      const loud = lines.filter((l) => l.level === 'warn' || l.level === 'error');
      assert.equal(loud.length, 1, `one line for the failed attempt, none for the probes: ${JSON.stringify(loud)}`);
      assert.match(String(loud[0]!.msg), /unreachable \(connect ECONNREFUSED .*\); probing it every/);
      await broker.start();
      await connected;
      assert.equal(events('endpoint-reachable').length, 1);
    } finally {
      await session.stop();
      await broker.cleanup();
    }
    const stopped = events('disconnected');
    assert.equal(stopped.length, 1);
    assert.equal(stopped[0]!.level, 'info');
    assert.equal(stopped[0]!.planned, true);
  });

  it('detects a black-holed link by keepalive and reconnects when it heals', async () => {
    const proxy: FaultProxy = await startFaultProxy(open.port);
    const { log, events } = captureLog();
    const session = new CloudSession({ adapter: adapterFor(proxy.url, { keepaliveSeconds: 1 }), log, connectTimeoutMs: 2000, reconnectBaseMs: 100, reconnectMaxMs: 500 });
    const connected = () => new Promise<void>((resolve) => session.once('connected', resolve));
    try {
      session.start();
      await connected();
      proxy.setMode({ kind: 'blackhole' });
      const disconnected = await Promise.race([new Promise<string>((r) => session.once('disconnected', r)), sleep(10_000).then(() => 'timeout')]);
      assert.equal(disconnected, 'closed', 'a dead link must be noticed by keepalive');
      await assert.rejects(session.publish({ topic: 't', payload: 'x' }), /link is down/);
      proxy.setMode({ kind: 'pass' });
      await Promise.race([connected(), sleep(10_000).then(() => assert.fail('did not reconnect after the link healed'))]);
      await session.publish({ topic: 't', payload: 'after-heal' });
      assert.ok(events('connected').length >= 2);
    } finally {
      await session.stop();
      await proxy.close();
    }
  });
});
