// Starting on a full disk (issue #16): the real agent on a 1 MB tmpfs filled to the last byte, with
// a fresh data dir and with an existing outbox. It must keep running, answer status and /health,
// say loudly (once, not per reading) that the outbox is unavailable, count what it could not store,
// answer commands from the cloud, and, once the test deletes the filler, open the outbox and deliver,
// without anyone restarting it.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { StatusSnapshot } from '../../src/status/snapshot.ts';
import { CLI, REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { freePort } from '../helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { collect, type Collector } from '../helpers/mqtt-collector.ts';

const run = promisify(execFile);

/** Mounts a 1 MB tmpfs, or says why not (the test is then skipped with that reason). */
function mountSmallDisk(): { dir: string; mnt: string } | string {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-full-'));
  const mnt = join(dir, 'mnt');
  mkdirSync(mnt);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0750', 'tmpfs', mnt], { stdio: 'pipe' });
    return { dir, mnt };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (needs root or CAP_SYS_ADMIN): ${String((error as { stderr?: Buffer }).stderr ?? error).trim()}`;
  }
}

function unmount(disk: { dir: string; mnt: string }): void {
  execFileSync('umount', ['-l', disk.mnt]);
  rmSync(disk.dir, { recursive: true, force: true });
}

/** Writes a filler file until the file system says ENOSPC; returns its path. */
function fill(mnt: string): string {
  const path = join(mnt, 'filler');
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(4096, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  return path;
}

async function status(agent: AgentProcess): Promise<{ json: StatusSnapshot; text: string }> {
  // `status` gives the agent 3 s; on a CI machine running other agents at once that was missed once
  // (exit 69, no answer). The agent must answer, not answer within 3 s of a starved scheduler: ask again.
  const ask = async (...extra: string[]) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return (await run(process.execPath, [CLI, 'status', '--config', agent.configPath, ...extra], { cwd: REPO_ROOT })).stdout;
      } catch (error) {
        if ((error as { code?: unknown }).code !== 69 || attempt === 3) throw error;
      }
    }
  };
  const json = JSON.parse(await ask('--json')) as StatusSnapshot;
  const text = await ask();
  return { json, text };
}

function metric(text: string, name: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  assert.ok(line, `metric ${name} missing`);
  return Number(line.split(' ')[1]);
}

const mounted = mountSmallDisk();
const skip = typeof mounted === 'string' ? mounted : false;

describe('starting on a full disk', { skip, timeout: 120_000 }, () => {
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.cleanup();
    if (typeof mounted !== 'string') unmount(mounted);
  });

  /**
   * Sends `ping` as the cloud does (the generic format, as commands.test.ts sends it) and waits for
   * its reply: the agent must stay manageable from the cloud while it cannot store anything.
   */
  async function pingAnswered(agent: AgentProcess, replies: Collector, id: string): Promise<void> {
    await agent.waitForLog((l) => l.event === 'subscribed');
    await replies.client.publishAsync('edge-agent/test-agent/commands', JSON.stringify({ id, name: 'ping', params: {} }), { qos: 1 });
    const answer = await replies.waitForMessage((_topic, payload) => (JSON.parse(payload.toString()) as { id?: unknown }).id === id);
    const reply = JSON.parse(answer.payload.toString()) as { ok: boolean; status: number; data?: { pong?: boolean }; error?: string };
    assert.deepEqual([reply.ok, reply.status, reply.data?.pong], [true, 200, true], `the ping while the outbox is unavailable: ${JSON.stringify(reply)}`);
  }

  /** Starts the agent on the full disk and checks everything that must hold while the outbox is unavailable. */
  async function whileUnavailable(agent: AgentProcess, base: string, replies: Collector): Promise<void> {
    const loud = await agent.waitForLog((l) => l.event === 'outbox-unavailable');
    assert.equal(loud.level, 'error');
    assert.ok(loud.msg.includes(agent.dataDir), 'names the data dir');
    assert.match(loud.msg, /0B free in /, 'says how much space is free');
    assert.match(loud.msg, /free space on the file system/, 'says what to do');
    await agent.waitForLog((l) => l.event === 'started');
    // Three attempts later (1 s, then 2 s): still one loud line, not one per reading or per attempt.
    await agent.waitForLog((l) => l.event === 'outbox-open-failed' && (l.attempts as number) >= 3, 20_000);
    assert.equal(agent.logs.filter((l) => l.event === 'outbox-unavailable').length, 1);
    assert.equal(agent.child.exitCode, null, 'still running');

    const { json, text } = await status(agent);
    assert.ok(json.outbox.unavailable, 'status says the outbox is unavailable');
    assert.equal(json.outbox.unavailable.dataDir, agent.dataDir);
    assert.ok(json.outbox.unavailable.held > 0, 'readings are held in memory');
    assert.equal(json.outbox.diskFull, true);
    assert.ok((json.outbox.unstored ?? 0) > 0, 'readings that could not be stored are counted');
    assert.match(text, /UNAVAILABLE since/);
    assert.match(text, /readings could not be stored on arrival/);

    const health = await fetch(`${base}/health`);
    assert.equal(health.status, 503);
    const verdict = (await health.json()) as { reasons: string[] };
    assert.ok(verdict.reasons.some((r) => r.includes('the outbox cannot be opened')), JSON.stringify(verdict));
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metric(metrics, 'edge_agent_outbox_available'), 0);
    assert.ok(metric(metrics, 'edge_agent_outbox_unstored_readings_total') > 0);
    assert.ok(metric(metrics, 'edge_agent_outbox_held_readings') > 0);

    await pingAnswered(agent, replies, 'ping-while-unavailable');
    assert.ok(!agent.logs.some((l) => l.event === 'outbox-opened'), 'the ping was answered while the outbox was still unavailable');
    assert.ok((await status(agent)).json.outbox.unavailable, 'and the outbox is unavailable still');
  }

  /** Space returns: the outbox opens by itself, and readings produced after that arrive at the broker. */
  async function afterSpaceReturns(agent: AgentProcess, filler: string, collector: Collector, base: string): Promise<void> {
    rmSync(filler);
    const opened = await agent.waitForLog((l) => l.event === 'outbox-opened', 20_000);
    assert.ok((opened.held as number) > 0, 'what was held in memory was stored');
    // The sensor's seq at the moment the outbox opened; readings after it went through the outbox on disk.
    const { json } = await status(agent);
    const seqAtOpen = json.sensors.room!.readings;
    await collector.waitForSeqs(seqAtOpen + 20, 30_000);
    assert.equal(json.outbox.unavailable, undefined);
    assert.ok((json.outbox.unstored ?? 0) > 0, 'the count stays after recovery');
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.equal(metric(metrics, 'edge_agent_outbox_available'), 1);
    assert.equal((await fetch(`${base}/health`)).status, 200);
    assert.equal(agent.child.exitCode, null);
  }

  function agentOn(dataDir: string, dir: string, port: number): AgentProcess {
    return startAgent(
      {
        agent: { dataDir },
        cloud: { provider: 'mqtt', url: broker.url, reconnectMax: '1s' },
        sensors: [{ id: 'room', type: 'simulated', interval: '50ms' }],
        health: { http: { listen: `127.0.0.1:${port}` }, linkDownAfter: '1h', sensorSilentAfter: '1h' },
      },
      { dir },
    );
  }

  it('with a fresh data dir: keeps running, says so, answers a ping, holds and counts readings, recovers when space returns', async () => {
    assert.ok(typeof mounted !== 'string');
    const dataDir = join(mounted.mnt, 'fresh');
    const filler = fill(mounted.mnt);
    const port = await freePort();
    const collector = await collect(broker.url, 'edge-agent/+/telemetry/room');
    const replies = await collect(broker.url, 'edge-agent/test-agent/replies');
    const dir = mkdtempSync(join(tmpdir(), 'edge-agent-test-'));
    const agent = agentOn(dataDir, dir, port);
    try {
      await whileUnavailable(agent, `http://127.0.0.1:${port}`, replies);
      await afterSpaceReturns(agent, filler, collector, `http://127.0.0.1:${port}`);
      // Held readings were stored too: nothing from the start is missing.
      assert.ok(collector.seqs.has(1));
    } finally {
      await collector.close();
      await replies.close();
      await agent.cleanup();
    }
  });

  it('with an existing outbox: same, on the SQLite error a full disk gives an existing file', async () => {
    assert.ok(typeof mounted !== 'string');
    const dataDir = join(mounted.mnt, 'existing');
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'edge-agent-test-'));
    // A first run creates the outbox and leaves readings in it (no broker listens on port 1). Its
    // sensor has another id, so its seqs are not mistaken for the second run's.
    const first = startAgent({ agent: { dataDir }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 'before', type: 'simulated', interval: '50ms' }] });
    await first.waitForLog((l) => l.event === 'started');
    assert.equal(await first.stop(), 0);
    await first.cleanup();

    const filler = fill(mounted.mnt);
    const collector = await collect(broker.url, 'edge-agent/+/telemetry/room');
    const replies = await collect(broker.url, 'edge-agent/test-agent/replies');
    const agent = agentOn(dataDir, dir, port);
    try {
      await whileUnavailable(agent, `http://127.0.0.1:${port}`, replies);
      await afterSpaceReturns(agent, filler, collector, `http://127.0.0.1:${port}`);
    } finally {
      await collector.close();
      await replies.close();
      await agent.cleanup();
    }
  });
});
