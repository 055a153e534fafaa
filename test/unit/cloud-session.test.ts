// The session's reconnect logic on a fake clock and a fake transport: minutes of backoff, probing
// and session expiry in milliseconds. The same session against a real Mosquitto is in
// test/integration/cloud-session.test.ts and link-recovery.test.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CloudAdapter, ConnectOptions } from '../../src/cloud/adapter.ts';
import { CloudSession } from '../../src/cloud/session.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { FakeTransport } from '../helpers/fake-mqtt.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

function adapter(extra: Partial<ConnectOptions> = {}): CloudAdapter {
  return {
    provider: 'test',
    maxMessageBytes: 1 << 20, defaultLingerMs: 0,
    connectOptions: () => Promise.resolve({ url: 'mqtts://hub.example.com:8883', clientId: 'gw-1', protocolVersion: 4, keepaliveSeconds: 60, ...extra }),
    subscriptions: () => [],
    encodeTelemetry: () => ({ messages: [], rejected: [] }),
    decodeIncoming: () => [],
    encodeReply: () => [],
  };
}


function harness(options: { extra?: Partial<ConnectOptions>; reconnectMaxMs?: number; sessionExpiryMs?: number; reachable?: () => boolean; previousSessionEndedAt?: (now: number) => number } = {}) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const { log, lines, events } = captureLog();
  let probes = 0;
  const session = new CloudSession({
    adapter: adapter(options.extra),
    log,
    connectTimeoutMs: 30_000,
    reconnectMaxMs: options.reconnectMaxMs ?? 60_000,
    sessionExpiryMs: options.sessionExpiryMs ?? 10 * 60_000,
    timers: clock,
    connect: transport.connect,
    random: seededRandom(7),
    ...(options.previousSessionEndedAt ? { previousSessionEndedAt: options.previousSessionEndedAt(clock.now()) } : {}),
    probe: () => {
      probes++;
      return Promise.resolve(options.reachable?.() ?? true);
    },
  });
  const connectedCount = () => events('connected').length;
  return { clock, transport, session, lines, events, connectedCount, probes: () => probes };
}

describe('cloud session on a fake clock', () => {
  it('backs off with full jitter up to reconnectMax while the cloud refuses the login, one error line a minute', async () => {
    const h = harness();
    h.transport.answer = { error: { code: 4, message: 'Connection refused: Bad username or password' } };
    h.session.start();
    await h.clock.advance(30 * 60_000);
    await h.session.stop();
    const refusals = h.events('connect-refused');
    const delays = refusals.map((l) => l.delayMs as number);
    assert.equal(refusals.length, h.transport.clients.length, 'one line per attempt');
    assert.ok(delays.every((d) => d >= 250 && d <= 60_000), `delays outside [250 ms, 60 s]: ${delays.join(', ')}`);
    assert.ok(new Set(delays).size > delays.length / 2, `no jitter: ${delays.join(', ')}`);
    // Full jitter averages half the ceiling: 30 minutes at up to 60 s is some 60 attempts, not thousands.
    assert.ok(refusals.length >= 30 && refusals.length <= 200, `${refusals.length} attempts in 30 minutes`);
    const loud = refusals.filter((l) => l.level === 'error');
    assert.ok(loud.length <= 31, `${loud.length} error lines in 30 minutes`);
    assert.ok(h.probes() === 0, 'a refused login is not a network problem: no probes');
  });

  it('probes an unreachable endpoint instead of connecting, and connects within 8 s of it answering after a 40 s outage', async () => {
    let reachableAt = Number.POSITIVE_INFINITY;
    const h = harness({ reachable: () => h.clock.now() >= reachableAt });
    h.transport.answer = { error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.1.2.3:8883' } };
    h.session.start();
    await h.clock.until(() => h.events('connect-failed').length > 0, 1000, 'the first failure');
    await h.clock.advance(40_000);
    assert.equal(h.transport.clients.length, 1, 'no full connect attempts while nothing answers');
    assert.ok(h.probes() >= 8 && h.probes() <= 21, `${h.probes()} probes in 40 s (one every 2-5 s)`);
    reachableAt = h.clock.now();
    h.transport.answer = { accept: true };
    const took = await h.clock.until(() => h.connectedCount() > 0, 10_000, 'the reconnect');
    assert.ok(took <= 8000, `connected ${took} ms after the endpoint answered`);
    assert.equal(h.lines.filter((l) => l.level === 'warn' || l.level === 'error').length, 1, 'one line for the outage, none per probe');
    await h.session.stop();
  });

  it('is connected within 8 s of the endpoint answering after each of three 40 s outages (the broker gone: link dropped, then nothing answers)', async () => {
    let reachable = true;
    const h = harness({ reachable: () => reachable });
    h.session.start();
    await h.clock.until(() => h.connectedCount() === 1, 1000, 'the first connect');
    const delays: number[] = [];
    for (let outage = 1; outage <= 3; outage++) {
      await h.clock.advance(60_000);
      reachable = false;
      h.transport.answer = { error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED 10.1.2.3:8883' } };
      h.transport.last!.drop();
      await h.clock.advance(40_000);
      reachable = true;
      h.transport.answer = { accept: true };
      delays.push(await h.clock.until(() => h.connectedCount() === outage + 1, 10_000, `the reconnect after outage ${outage}`));
    }
    assert.ok(delays.every((d) => d <= 8000), `connected ${delays.join(', ')} ms after the endpoint answered`);
    await h.session.stop();
  });

  it('reconnects within a second after a stable link drops and the endpoint still answers', async () => {
    const h = harness();
    h.session.start();
    await h.clock.until(() => h.connectedCount() === 1, 1000, 'the first connect');
    await h.clock.advance(5 * 60_000);
    h.transport.last!.drop();
    const took = await h.clock.until(() => h.connectedCount() === 2, 5000, 'the reconnect');
    assert.ok(took <= 1000, `reconnected after ${took} ms`);
    const dropped = h.events('disconnected');
    assert.equal(dropped[0]!.level, 'warn');
    assert.equal(dropped[0]!.planned, false);
    await h.session.stop();
    const stopped = h.events('disconnected').at(-1)!;
    assert.equal(stopped.level, 'info');
    assert.equal(stopped.planned, true, 'a planned stop is not a warning');
  });

  it('keeps an MQTT 3.1.1 session only while it is younger than its expiry; a session of unknown age is discarded first', async () => {
    let reachable = true;
    const h = harness({ extra: { persistentSession: true }, sessionExpiryMs: 10 * 60_000, reachable: () => reachable });
    const cleanFlags = () => h.transport.clients.map((c) => c.options.clean);
    h.session.start();
    await h.clock.until(() => h.connectedCount() === 1, 1000, 'the first connect');
    assert.deepEqual(cleanFlags(), [true, false], 'at start: discard whatever the broker kept, then a persistent session');
    await h.clock.advance(60_000);
    h.transport.last!.drop();
    await h.clock.until(() => h.connectedCount() === 2, 5000, 'a reconnect after a blip');
    assert.deepEqual(cleanFlags(), [true, false, false], 'a blip resumes the kept session');
    reachable = false;
    h.transport.answer = { error: { code: 'ECONNREFUSED', message: 'connect ECONNREFUSED' } };
    h.transport.last!.drop();
    await h.clock.advance(15 * 60_000);
    reachable = true;
    h.transport.answer = { accept: true };
    await h.clock.until(() => h.connectedCount() === 3, 10_000, 'a reconnect after a long outage');
    assert.deepEqual(cleanFlags().slice(-2), [true, false], 'after an outage longer than the expiry the old session is discarded first');
    await h.session.stop();
  });

  it('resumes the session a reload ended moments ago, and discards one that ended before the expiry', async () => {
    const reloaded = harness({ extra: { persistentSession: true }, sessionExpiryMs: 10 * 60_000, previousSessionEndedAt: (now) => now - 200 });
    reloaded.session.start();
    await reloaded.clock.until(() => reloaded.connectedCount() === 1, 1000, 'the first connect after the reload');
    assert.deepEqual(reloaded.transport.clients.map((c) => c.options.clean), [false], 'the commands sent during the reload wait in the kept session');
    await reloaded.session.stop();
    assert.equal(reloaded.session.lastConnectedUntil, reloaded.clock.now());
    const stale = harness({ extra: { persistentSession: true }, sessionExpiryMs: 10 * 60_000, previousSessionEndedAt: (now) => now - 11 * 60_000 });
    stale.session.start();
    await stale.clock.until(() => stale.connectedCount() === 1, 1000, 'the first connect');
    assert.deepEqual(stale.transport.clients.map((c) => c.options.clean), [true, false]);
    await stale.session.stop();
  });

  it('asks an MQTT 5 broker to keep the session for its expiry, and never to send more than the incoming limit', async () => {
    const h = harness({ extra: { persistentSession: true, protocolVersion: 5 }, sessionExpiryMs: 10 * 60_000 });
    h.session.start();
    await h.clock.until(() => h.connectedCount() === 1, 1000, 'the first connect');
    const options = h.transport.clients[0]!.options;
    assert.equal(h.transport.clients.length, 1, 'MQTT 5 brokers expire sessions themselves: no discarding connect');
    assert.equal(options.clean, false);
    assert.equal(options.properties?.sessionExpiryInterval, 600);
    assert.ok((options.properties?.maximumPacketSize ?? 0) > 256 * 1024);
    await h.session.stop();
  });
});
