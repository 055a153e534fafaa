// The reconnect policy after an outage: classification, and a fleet of 10,000 gateways that lost
// the same network, run through the real waitUntilReachable on a virtual clock.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endpointOf } from '../../src/cloud/mqtt-options.ts';
import { backoffDelay, classifyConnectError, DEFAULT_RECONNECT_TIMING, waitUntilReachable } from '../../src/cloud/reconnect.ts';
import { seededRandom } from '../helpers/seeded-random.ts';

/** A virtual clock: sleeps resolve in time order, each after what the previous one set off has run. */
function virtualClock() {
  let now = 0;
  let order = 0;
  // A binary min-heap on (at, order).
  const heap: { at: number; order: number; resolve: () => void }[] = [];
  const before = (a: number, b: number) => heap[a]!.at < heap[b]!.at || (heap[a]!.at === heap[b]!.at && heap[a]!.order < heap[b]!.order);
  const swap = (a: number, b: number) => ([heap[a], heap[b]] = [heap[b]!, heap[a]!]);
  const push = (event: (typeof heap)[number]) => {
    heap.push(event);
    for (let i = heap.length - 1; i > 0 && before(i, (i - 1) >> 1); i = (i - 1) >> 1) swap(i, (i - 1) >> 1);
  };
  const pop = () => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(l, m)) m = l;
        if (r < heap.length && before(r, m)) m = r;
        if (m === i) break;
        swap(i, m);
        i = m;
      }
    }
    return top;
  };
  return {
    now: () => now,
    sleep(ms: number) {
      return new Promise<void>((resolve) => push({ at: now + ms, order: order++, resolve }));
    },
    async run(until: () => boolean) {
      while (!until() && heap.length > 0) {
        const event = pop();
        now = event.at;
        event.resolve();
        await new Promise((resolve) => setImmediate(resolve));
      }
    },
  };
}


/**
 * `blackholed`: during the outage a probe's SYNs vanish, so it fails only at its timeout, even when
 * the network returns meanwhile (the pessimistic case: no retransmitted SYN gets through).
 */
async function simulateFleet(gateways: number, outageMs: number, seed: number, blackholed = false) {
  const clock = virtualClock();
  const random = seededRandom(seed);
  const reconnectAt: number[] = [];
  let probes = 0;
  let probesDuringOutage = 0;
  const fleet = Array.from({ length: gateways }, async () => {
    // Each gateway notices the outage at its own moment (keepalive, a failed publish): within 2 s.
    await clock.sleep(random() * 2000);
    await waitUntilReachable(
      {
        probe: async () => {
          probes++;
          if (clock.now() >= outageMs) return true;
          probesDuringOutage++;
          if (blackholed) await clock.sleep(DEFAULT_RECONNECT_TIMING.probeTimeoutMs);
          return false;
        },
        sleep: (ms) => clock.sleep(ms),
        now: clock.now,
        random,
        running: () => true,
      },
      DEFAULT_RECONNECT_TIMING,
    );
    reconnectAt.push(clock.now() - outageMs);
  });
  await clock.run(() => reconnectAt.length === gateways);
  await Promise.all(fleet);
  return { reconnectAt, probes, probesPerSecondDuringOutage: probesDuringOutage / (outageMs / 1000) };
}

function histogram(delays: number[]): number[] {
  const buckets: number[] = [];
  for (const delay of delays) {
    const second = Math.floor(delay / 1000);
    buckets[second] = (buckets[second] ?? 0) + 1;
  }
  return Array.from(buckets, (n) => n ?? 0);
}

describe('reconnect after an outage', () => {
  it('classifies why a connection failed', () => {
    assert.equal(classifyConnectError('ECONNREFUSED'), 'unreachable');
    assert.equal(classifyConnectError('ENOTFOUND'), 'unreachable');
    assert.equal(classifyConnectError('ENETUNREACH'), 'unreachable');
    assert.equal(classifyConnectError('ECONNRESET'), 'failed');
    assert.equal(classifyConnectError(undefined), 'failed');
    assert.equal(classifyConnectError(5), 'refused', 'CONNACK not authorized');
    assert.equal(classifyConnectError('CERT_HAS_EXPIRED'), 'refused');
    assert.equal(classifyConnectError('DEPTH_ZERO_SELF_SIGNED_CERT'), 'refused');
    assert.equal(classifyConnectError('ERR_TLS_CERT_ALTNAME_INVALID'), 'refused');
  });

  it('keeps the long backoff for a refused login and a short cap for a reachable endpoint that failed', () => {
    const top = () => 0.999999;
    assert.equal(backoffDelay('refused', 10, 1000, 60_000, DEFAULT_RECONNECT_TIMING, top), 59_999);
    assert.equal(backoffDelay('failed', 10, 1000, 60_000, DEFAULT_RECONNECT_TIMING, top), 7999);
    assert.equal(backoffDelay('failed', 10, 1000, 5000, DEFAULT_RECONNECT_TIMING, top), 4999, 'never above reconnectMax');
  });

  it('knows each scheme’s default port', () => {
    assert.deepEqual(endpointOf('mqtts://hub.example.com'), { host: 'hub.example.com', port: 8883, tls: true });
    assert.deepEqual(endpointOf('wss://hub.example.com/$iothub/websocket'), { host: 'hub.example.com', port: 443, tls: true });
    assert.deepEqual(endpointOf('mqtt://[::1]:1884'), { host: '::1', port: 1884, tls: false });
  });

  // An hour of probing is a thousand simulated probes per gateway: 300 of them show the phases stay random.
  // Blackholed: a cell network gone, where each probe takes its whole timeout to fail.
  for (const { outageMs, gateways, blackholed } of [
    { outageMs: 40_000, gateways: 10_000, blackholed: false },
    { outageMs: 40_000, gateways: 10_000, blackholed: true },
    { outageMs: 3_600_000, gateways: 300, blackholed: false },
  ]) {
    it(`brings ${gateways} gateways back within 10 s of a ${outageMs / 1000} s outage${blackholed ? ' where probes time out' : ''}, spread over seconds`, async () => {
      const { reconnectAt, probesPerSecondDuringOutage } = await simulateFleet(gateways, outageMs, 42, blackholed);
      const sorted = [...reconnectAt].sort((a, b) => a - b);
      const perSecond = histogram(sorted);
      const busiest = Math.max(...perSecond);
      console.log(
        `${gateways} gateways, ${outageMs / 1000} s outage: first reconnect after the endpoint returned: median ${(sorted[gateways / 2]! / 1000).toFixed(1)} s, ` +
          `max ${(sorted.at(-1)! / 1000).toFixed(1)} s; connects per second after the return: ${perSecond.join(', ')}; ` +
          `probes per second during the outage: ${Math.round(probesPerSecondDuringOutage)}`,
      );
      assert.ok(sorted.at(-1)! <= 10_000, `the last gateway reconnected ${sorted.at(-1)} ms after the endpoint returned`);
      assert.ok(sorted[0]! >= 0, 'nobody connects before the endpoint is back');
      // One wave would put everyone in the first second. Spread, the busiest second holds about a quarter of them: the
      // time to the next probe is flat over the shortest probe interval, smoothed by the 0-3 s spread.
      assert.ok(busiest < gateways / 3, `${busiest} gateways reconnected within the same second`);
      assert.ok(perSecond.filter((n) => n > 0).length >= 5, `the fleet reconnected within ${perSecond.length} seconds`);
    });
  }
});
