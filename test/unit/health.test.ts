import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { healthConfigSchema } from '../../src/health/config.ts';
import { sampleGateway, type SamplerSources } from '../../src/health/gateway-sampler.ts';
import { evaluateHealth, healthBody } from '../../src/health/health-check.ts';
import { renderPrometheus } from '../../src/health/prometheus.ts';
import type { StatusSnapshot } from '../../src/status/snapshot.ts';

export function snapshot(overrides: Partial<StatusSnapshot> = {}): StatusSnapshot {
  const now = 1_700_000_000_000;
  return {
    agentId: 'gw1',
    version: '0.1.0',
    pid: 1,
    startedAt: now - 60_000,
    now,
    configFile: 'agent.config.json',
    configVersion: 1,
    clockSynchronized: true,
    link: { provider: 'mqtt', endpoint: 'mqtt://x', state: 'connected', since: now - 50_000, lastConnectedAt: now - 50_000, reconnects: 2, nextAttemptAt: null, lastError: null, lastErrorAt: null, inFlight: 1, publishedReadings: 100, publishedMessages: 10, bytesSent: 5000, publishRate: 1.5, refusedMessages: 0, refusing: null },
    outbox: { pending: 5, pendingReserved: 0, leased: 0, oldestTs: now - 2000, bytes: 1000, maxBytes: 10_000, dropped: { 'room "1"': 3 }, lastSeq: 105, committedSeq: 105, commits: 20, diskFull: false },
    sensors: { room: { type: 'simulated', readings: 105, parseErrors: 1, ioErrors: 0, lastReadingAt: now - 1000, lastError: null, lastErrorAt: null, report: 'every', reported: 105 } },
    commands: { received: 3, succeeded: 2, failed: 1, refused: 0, running: 0 },
    recentErrors: [],
    ...overrides,
  };
}

const config = healthConfigSchema.parse({});

const sources = (temperature: number | null): SamplerSources => ({
  mem: () => Promise.resolve({ total: 1000, available: 250 }),
  cpuTemperature: () => Promise.resolve({ main: temperature }),
  diskOf: () => Promise.resolve({ size: 200, used: 50, available: 150 }),
  networkStats: () => Promise.resolve([{ iface: 'lo', rx_bytes: 1, tx_bytes: 1 }, { iface: 'eth0', rx_bytes: 10, tx_bytes: 20 }]),
});

describe('gateway sample', () => {
  it('reports memory, temperature, the data dir filesystem and interfaces', async () => {
    const sample = await sampleGateway('/var/lib/edge-agent', sources(48.5));
    assert.equal(sample['mem.usedPercent'], 75);
    assert.equal(sample['temp.cpuC'], 48.5);
    assert.equal(sample['disk.usedPercent'], 25);
    assert.equal(sample['net.eth0.txBytes'], 20);
    assert.equal(sample['net.lo.rxBytes'], undefined);
  });
  it('leaves temperature out on a board without a sensor', async () => {
    for (const missing of [null, -1]) {
      const sample = await sampleGateway('/data', sources(missing));
      assert.equal('temp.cpuC' in sample, false);
      assert.equal(sample['mem.usedPercent'], 75);
    }
  });
  it('survives a failing source', async () => {
    const sample = await sampleGateway('/data', { ...sources(40), cpuTemperature: () => Promise.reject(new Error('no thermal zone')) });
    assert.equal('temp.cpuC' in sample, false);
    assert.ok('cpu.load1' in sample);
  });
});

describe('health verdict', () => {
  it('is healthy by default', () => {
    assert.deepEqual(evaluateHealth(snapshot(), config), { healthy: true, reasons: [] });
  });
  it('flags a link down too long, a nearly full outbox and a silent sensor', () => {
    const s = snapshot();
    const verdict = evaluateHealth(
      snapshot({
        link: { ...s.link, state: 'disconnected', since: s.now - 10 * 60_000, lastError: 'ECONNREFUSED' },
        outbox: { ...s.outbox, bytes: 9500 },
        sensors: { room: { ...s.sensors.room!, lastReadingAt: s.now - 3_600_000 } },
      }),
      config,
    );
    assert.equal(verdict.healthy, false);
    assert.equal(verdict.reasons.length, 3);
    assert.match(verdict.reasons.join('\n'), /link disconnected for 600 s \(last error: ECONNREFUSED\)/);
    assert.match(verdict.reasons.join('\n'), /outbox 95% full/);
    assert.match(verdict.reasons.join('\n'), /sensor room silent for 3600 s/);
  });
});

/** Two destinations: 'cloud' up and current, 'plant' refused for 10 minutes with readings waiting for it. */
function twoDestinations(): StatusSnapshot {
  const s = snapshot();
  return snapshot({
    destinations: {
      cloud: { ...s.link, pending: 0, oldestTs: null, dropped: 0 },
      plant: { ...s.link, endpoint: 'mqtt://plant', state: 'disconnected', since: s.now - 600_000, lastError: 'not authorized', refusedMessages: 4, refusing: 'publishes refused: not authorized', pending: 1200, oldestTs: s.now - 599_500, dropped: 7 },
    },
  });
}

describe('several destinations', () => {
  it('/health names the destination that is down and shows each one by id', () => {
    const s = twoDestinations();
    const verdict = evaluateHealth(s, config);
    assert.equal(verdict.healthy, false);
    assert.match(verdict.reasons.join('\n'), /^destination plant: cloud link disconnected for 600 s \(last error: not authorized\)$/m);
    assert.doesNotMatch(verdict.reasons.join('\n'), /destination cloud/);
    const body = JSON.parse(JSON.stringify(healthBody(s, verdict))) as { status: string; destinations: Record<string, Record<string, unknown>> };
    assert.equal(body.status, 'unhealthy');
    assert.deepEqual(Object.keys(body.destinations), ['cloud', 'plant']);
    assert.deepEqual(body.destinations.plant, { link: 'disconnected', since: new Date(s.now - 600_000).toISOString(), pending: 1200, oldestAgeSeconds: 600, refusedMessages: 4, refusing: 'publishes refused: not authorized', dropped: 7 });
    assert.equal(body.destinations.cloud!.oldestAgeSeconds, null);
  });
  it('a single cloud keeps /health as it was: status and reasons only', () => {
    const s = snapshot();
    assert.deepEqual(healthBody(s, evaluateHealth(s, config)), { status: 'ok', reasons: [] });
  });
  it('/metrics labels every destination with its id', () => {
    const text = renderPrometheus(twoDestinations(), undefined, { rss: 1, heapUsed: 1 });
    assert.match(text, /^edge_agent_link_up\{destination="cloud"\} 1$/m);
    assert.match(text, /^edge_agent_link_up\{destination="plant"\} 0$/m);
    assert.match(text, /^edge_agent_destination_pending\{destination="plant"\} 1200$/m);
    assert.match(text, /^edge_agent_destination_oldest_age_seconds\{destination="plant"\} 599\.5$/m);
    assert.match(text, /^edge_agent_destination_dropped_readings_total\{destination="plant"\} 7$/m);
  });
});

describe('prometheus text', () => {
  it('has HELP and TYPE for every metric, _total counters and escaped labels', () => {
    const text = renderPrometheus(snapshot(), { 'mem.usedPercent': 75, 'net.eth0.rxBytes': 10 }, { rss: 98_000_000, heapUsed: 21_000_000 });
    assert.match(text, /^edge_agent_process_resident_memory_bytes 98000000$/m);
    assert.match(text, /^# HELP edge_agent_link_reconnects_total .+\n# TYPE edge_agent_link_reconnects_total counter\nedge_agent_link_reconnects_total 2$/m);
    assert.match(text, /^edge_agent_dropped_readings_total\{sensor="room \\"1\\""\} 3$/m);
    assert.match(text, /^edge_agent_sensor_readings_total\{sensor="room"\} 105$/m);
    assert.match(text, /^edge_agent_gateway_mem_used_percent 75$/m);
    assert.match(text, /^edge_agent_gateway_network_bytes_total\{interface="eth0",direction="rx"\} 10$/m);
    for (const line of text.trim().split('\n')) assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? (-?[\d.e+]+|NaN))$/, line);
  });
});
