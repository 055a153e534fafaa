// kill -9 while the agent drains a backlog. A backlog written by another process, as sensors would
// while the uplink is down (bench/fill-backlog.ts: reading n carries values.seq n), is drained to a
// real Mosquitto by the real agent at a set pace; the agent is SIGKILLed twice in the middle of the
// drain and started again on the same data dir. When the outbox reports nothing pending, every
// reading of the backlog has reached the broker at least once, each under one id, and the duplicates
// stay within the documented bound (README: "What a crash can cost").
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';
import { waitUntil } from '../helpers/wait.ts';

const AGENT_ID = 'drain-agent';
const TOTAL = 100_000;
/**
 * Readings per second (cloud.rateLimit). Unthrottled, the agent drains a local broker at 100,000+
 * readings/s (README, Performance): the whole backlog would be gone before a kill could land. At
 * this pace the drain takes 10 s, so the kills find it where the test means them to.
 */
const RATE = 10_000;
const IN_FLIGHT = 8;
const BATCH = 250;
const COMMIT_INTERVAL_MS = 100;
/** The commit window is 100 ms; a kill can find the commit timer late on a loaded machine (as in outbox-kill-live.test.ts). */
const WINDOW_SLACK_MS = 1000;
/** Where each kill lands: once this share of the backlog has reached the subscriber. */
const KILL_AT = [0.3, 0.65];

test(`a ${TOTAL.toLocaleString('en-US')}-reading backlog survives ${KILL_AT.length} kill -9 in the middle of its drain`, { timeout: 120_000 }, async (t) => {
  // t.after hooks run in the order they were added: the agent goes first.
  let agent: AgentProcess | undefined;
  t.after(() => agent?.kill());
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-kill-drain-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));

  const started = performance.now();
  await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bench/fill-backlog.ts'), join(dir, 'data'), String(TOTAL), AGENT_ID]);
  const filledMs = performance.now() - started;

  const broker = await startMosquitto();
  t.after(() => broker.cleanup());
  // Times each reading of the backlog arrived, and the id it came with (a resend must carry the same).
  const times = new Uint16Array(TOTAL + 1);
  const ids: string[] = [];
  let distinct = 0;
  const idMismatches: string[] = [];
  const strays: string[] = [];
  const markers = new Set<string>();
  const subscriber: MqttClient = await mqtt.connectAsync(broker.url, { clientId: `kill-drain-${process.pid}`, clean: true, reconnectPeriod: 0 });
  t.after(() => subscriber.endAsync(true));
  subscriber.on('message', (topic, payload) => {
    if (topic.startsWith('kill-drain-marker/')) return void markers.add(topic);
    for (const item of JSON.parse(payload.toString()) as { id: string; values: { seq: number } }[]) {
      const seq = item.values.seq;
      if (!(Number.isInteger(seq) && seq >= 1 && seq <= TOTAL)) {
        if (strays.length < 10) strays.push(JSON.stringify(item));
        continue;
      }
      const before = times[seq]!;
      times[seq] = before + 1;
      if (before === 0) {
        distinct++;
        ids[seq] = item.id;
      } else if (ids[seq] !== item.id && idMismatches.length < 10) idMismatches.push(`seq ${seq}: ${ids[seq]} then ${item.id}`);
    }
  });
  await subscriber.subscribeAsync([`edge-agent/${AGENT_ID}/telemetry/#`, 'kill-drain-marker/#'], { qos: 1 });
  let markerCount = 0;
  /** Resolves once everything the broker accepted before this call reached the subscriber (a marker queued behind it came back). */
  const sync = async () => {
    const topic = `kill-drain-marker/${++markerCount}`;
    await subscriber.publishAsync(topic, '', { qos: 1 });
    await waitUntil(() => markers.has(topic), 10_000, `marker ${topic} back from the broker`);
  };

  const healthPort = await freePort();
  const metrics = async (): Promise<string | undefined> => {
    try {
      return await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
    } catch {
      return undefined;
    }
  };
  const gauge = (text: string, name: string) => {
    const value = new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1];
    return value === undefined ? undefined : Number(value);
  };
  const start = () =>
    startAgent(
      {
        cloud: { provider: 'mqtt', url: broker.url, keepalive: 5, inFlight: IN_FLIGHT, batchSize: BATCH, rateLimit: RATE, reconnectMax: '1s' },
        outbox: { commitInterval: `${COMMIT_INTERVAL_MS}ms` },
        // No gateway health readings: only the backlog may arrive (a sample on the minute would be a stray).
        health: { telemetry: false, http: { listen: `127.0.0.1:${healthPort}` } },
        agent: { id: AGENT_ID, logLevel: 'info' },
      },
      { dir },
    );

  const runs: string[] = [];
  for (const share of KILL_AT) {
    agent = start();
    const runStart = performance.now();
    const from = distinct;
    await waitUntil(() => distinct >= share * TOTAL, 30_000, () => `${share * 100}% of the backlog at the broker (have ${distinct} of ${TOTAL}; agent log: ${agent!.logs.slice(-3).map((l) => l.msg).join(' | ')})`);
    await agent.kill();
    // What the killed agent got to the broker: the drain must have been cut, not finished.
    await sync();
    runs.push(`run to ${share * 100}%: ${from} -> ${distinct} distinct in ${Math.round(performance.now() - runStart)} ms`);
    assert.ok(distinct < TOTAL, `the backlog was drained before kill ${runs.length} (${distinct} of ${TOTAL}): slow the drain`);
  }

  agent = start();
  const finalStart = performance.now();
  let last: string | undefined;
  await waitUntil(
    async () => {
      last = await metrics();
      return last !== undefined && gauge(last, 'edge_agent_outbox_pending') === 0;
    },
    60_000,
    () => `edge_agent_outbox_pending 0 (now ${last === undefined ? 'no /metrics' : gauge(last, 'edge_agent_outbox_pending')}; ${distinct} of ${TOTAL} at the broker)`,
    100,
  );
  await sync();
  runs.push(`final run: to pending 0 in ${Math.round(performance.now() - finalStart)} ms`);

  const missing: string[] = [];
  for (let seq = 1; seq <= TOTAL && missing.length < 10; seq++) {
    if (times[seq] !== 0) continue;
    const first = seq;
    while (seq < TOTAL && times[seq + 1] === 0) seq++;
    missing.push(first === seq ? `${seq}` : `${first}-${seq}`);
  }
  assert.deepEqual(missing, [], `readings of the backlog never delivered (${TOTAL - distinct} of ${TOTAL})`);
  assert.deepEqual(strays, [], 'readings that are not of the backlog');
  assert.deepEqual(idMismatches, [], 'a reading sent again must carry the id it was first sent with');
  assert.doesNotMatch(last!, /^edge_agent_dropped_readings_total\{/m, 'retention dropped nothing');

  let duplicates = 0;
  let most = 0;
  for (let seq = 1; seq <= TOTAL; seq++) {
    duplicates += times[seq]! - 1;
    most = Math.max(most, times[seq]!);
  }
  // Documented bound per kill: what was in flight (inFlight × batchSize), plus what was acknowledged
  // within the last commit window. At the set pace that is RATE × the window, with the slack of
  // outbox-kill-live; the slack also covers the rate limiter's burst (a bucket of one second).
  const perKill = IN_FLIGHT * BATCH + Math.ceil((RATE * (COMMIT_INTERVAL_MS + WINDOW_SLACK_MS)) / 1000);
  t.diagnostic(`backlog of ${TOTAL} written in ${Math.round(filledMs)} ms; ${runs.join('; ')}`);
  t.diagnostic(`${duplicates} duplicates over ${KILL_AT.length} kills (bound ${perKill} per kill); a reading arrived at most ${most} times`);
  assert.ok(duplicates <= KILL_AT.length * perKill, `${duplicates} duplicates over ${KILL_AT.length} kills, more than ${perKill} per kill`);
  assert.ok(most <= KILL_AT.length + 1, `a reading arrived ${most} times, more than once per run`);

  assert.equal(await agent.stop(), 0);
  agent = undefined;
});
