// agent.update end to end, with the built binaries: version A runs under a supervisor that restarts
// it as systemd would, is told over the generic MQTT adapter to update to B, downloads B from a local
// HTTPS server that cuts the connection twice mid-file, verifies, installs, restarts into it, and B
// reports its version. Refusals install nothing; a B that exits at start, and one that cannot
// connect within update.confirmWithin, are rolled back and the failure is reported. Opt-in, as it
// builds three binaries (~30 s):
//   EDGE_AGENT_BINARY_TEST=1 npx node --test test/integration/agent-update.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { publicKeyLine } from '../../src/update/public-keys.ts';
import { AGENT_VERSION } from '../../src/version.ts';
import { startFaultProxy } from '../helpers/fault-proxy.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { supervise, type Supervised } from '../helpers/supervisor.ts';
import { startUpdateServer, type UpdateServer } from '../helpers/update-server.ts';
import { waitUntil } from '../helpers/wait.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const enabled = process.env.EDGE_AGENT_BINARY_TEST === '1';

interface Reply {
  id: string | null;
  ok: boolean;
  status: number;
  data?: { version?: string; failedVersion?: string; outcome?: string; state?: string };
  error?: string;
}

interface Reading {
  sensor: string;
  ts: number;
  values: { seq: number };
}

describe('remote agent update (single binary)', { skip: !enabled && 'set EDGE_AGENT_BINARY_TEST=1 to build the binaries and test updates', timeout: 420_000 }, () => {
  const work = mkdtempSync(join(tmpdir(), 'edge-agent-update-'));
  const binaries = { a: join(work, 'a/edge-agent-linux-x64'), b: join(work, 'b/edge-agent-linux-x64'), crash: join(work, 'crash/edge-agent-linux-x64') };
  const operatorKey = generateKeyPairSync('ed25519');
  const strangerKey = generateKeyPairSync('ed25519');
  let b: Buffer;
  let server: UpdateServer;
  let broker: Mosquitto;
  let operator: MqttClient;
  const replies = new Map<string, Reply[]>();
  const readings = new Map<string, Reading[]>();
  const running: Supervised[] = [];

  before(async () => {
    const build = (out: string, ...args: string[]) => run(process.execPath, [join(ROOT, 'scripts/build-binary.ts'), '--target', 'linux-x64', '--out', out, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    const prelude = join(work, 'exit-at-start.js');
    // A "B" that passes every check (`version` runs) but dies as soon as it is asked to run.
    writeFileSync(prelude, "if (process.argv.includes('run')) { process.stderr.write('this build exits at start\\n'); process.exit(1); }\n");
    await build(join(work, 'a'));
    await build(join(work, 'b'), '--version', '0.2.0');
    await build(join(work, 'crash'), '--version', '0.2.1', '--prelude', prelude);
    b = readFileSync(binaries.b);
    server = await startUpdateServer();
    broker = await startMosquitto();
    operator = await mqtt.connectAsync(broker.url, { clientId: 'update-operator' });
    operator.on('message', (topic, payload) => {
      const parsed = JSON.parse(payload.toString()) as unknown;
      if (topic.endsWith('/replies')) {
        const reply = parsed as Reply;
        if (reply.id !== null) replies.set(reply.id, [...(replies.get(reply.id) ?? []), reply]);
      } else for (const reading of parsed as Reading[]) readings.set(topic, [...(readings.get(topic) ?? []), reading]);
    });
    await operator.subscribeAsync(['edge-agent/+/replies', 'edge-agent/+/telemetry/#'], { qos: 1 });
  });
  after(async () => {
    for (const s of running) await s.stop();
    await operator?.endAsync();
    await broker?.cleanup();
    await server?.close();
    rmSync(work, { recursive: true, force: true });
  });

  /** A's binary where install.sh puts it, a config and a data dir of its own, run under the supervisor. */
  function startA(agentId: string, options: { url?: string; confirmWithin?: string; allow?: string[] } = {}) {
    const dir = join(work, agentId);
    mkdirSync(join(dir, 'bin'), { recursive: true });
    const bin = join(dir, 'bin/edge-agent');
    copyFileSync(binaries.a, bin);
    const config = {
      version: 1,
      agent: { id: agentId, dataDir: join(dir, 'data') },
      cloud: { provider: 'mqtt', url: options.url ?? broker.url, linger: '200ms' },
      sensors: [{ id: 'counter', type: 'simulated', interval: '50ms' }],
      health: { telemetry: false, http: { enabled: false } },
      commands: { allow: options.allow ?? ['ping', 'agent.update'] },
      update: { publicKeys: [publicKeyLine(operatorKey.publicKey)], tls: { ca: server.caPath }, confirmWithin: options.confirmWithin ?? '90s' },
    };
    writeFileSync(join(dir, 'agent.config.json'), JSON.stringify(config, null, 2));
    const supervised = supervise(bin, ['run', '--config', join(dir, 'agent.config.json')], { cwd: dir, env: { PATH: process.env.PATH, EDGE_AGENT_CACHE_DIR: join(dir, 'cache') } });
    running.push(supervised);
    return { dir, bin, dataDir: join(dir, 'data'), supervised };
  }

  let commands = 0;
  async function send(agentId: string, name: string, params: unknown): Promise<string> {
    const id = `${agentId}-${++commands}`;
    await operator.publishAsync(`edge-agent/${agentId}/commands`, JSON.stringify({ id, name, params }), { qos: 1 });
    return id;
  }

  async function reply(id: string, predicate: (r: Reply) => boolean, timeoutMs: number, agent: Supervised): Promise<Reply> {
    await waitUntil(() => (replies.get(id) ?? []).some(predicate), timeoutMs, () => `a reply to ${id}; have ${JSON.stringify(replies.get(id) ?? [])}\n${agent.tail()}`);
    return replies.get(id)!.find(predicate)!;
  }

  function signed(file: Buffer, version: string, key: KeyObject = operatorKey.privateKey, path = `/${version}-${createHash('sha256').update(file).digest('hex').slice(0, 8)}`) {
    server.serve(path, file);
    return { url: server.url(path), sha256: createHash('sha256').update(file).digest('hex'), signature: sign(null, file, key).toString('base64'), version };
  }

  function nothingInstalled(dataDir: string): void {
    const versions = join(dataDir, 'update/versions');
    assert.deepEqual(existsSync(versions) ? readdirSync(versions) : [], [], 'no binary installed');
    const state = JSON.parse(readFileSync(join(dataDir, 'update/state.json'), 'utf8')) as { trial?: unknown; active?: unknown };
    assert.equal(state.trial, undefined);
    assert.equal(state.active, undefined);
  }

  it('updates A to B over a link cut twice mid-file, resuming with Range, and loses no reading', async () => {
    const agentId = 'upd-good';
    const a = startA(agentId);
    await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
    const params = signed(b, '0.2.0');
    const path = new URL(params.url).pathname;
    server.cutAfter(path, [Math.floor(b.length * 0.3), Math.floor(b.length * 0.6)]);
    const id = await send(agentId, 'agent.update', params);
    const accepted = await reply(id, (r) => r.status === 202, 30_000, a.supervised);
    assert.deepEqual(accepted.data, { state: 'downloading', version: '0.2.0', from: AGENT_VERSION });

    const done = await reply(id, (r) => r.status !== 202, 120_000, a.supervised);
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.deepEqual(done.data, { version: '0.2.0', from: AGENT_VERSION, outcome: 'installed' });
    const ranges = server.requests.filter((r) => r.path === path && r.range).map((r) => r.range);
    assert.equal(ranges.length, 2, `two resumed requests, got ${JSON.stringify(server.requests.filter((r) => r.path === path))}`);
    assert.ok(ranges.every((r) => /^bytes=[1-9]\d*-$/.test(r!)), String(ranges));
    const started = a.supervised.logs.filter((l) => l.event === 'started').map((l) => l.version);
    assert.deepEqual(started, [AGENT_VERSION, '0.2.0']);
    // One process throughout, as systemd sees it: A exited 75 to be restarted, the launcher exec'd B in place.
    assert.equal(a.supervised.runs.length, 2);
    assert.equal(a.supervised.runs[0]!.exit?.code, 75);

    // No reading lost: each run of the sensor (its seq starts at 1 in each process) arrives whole, and
    // A's last reading was taken after the restart was asked for (nothing cut from its tail).
    const restartAt = Date.parse(String(a.supervised.logs.find((l) => l.event === 'restart-requested')!.time));
    const topic = `edge-agent/${agentId}/telemetry/counter`;
    await waitUntil(() => runsOf(readings.get(topic) ?? []).length === 2 && runsOf(readings.get(topic)!)[1]!.length >= 20, 30_000, 'readings from B');
    await a.supervised.stop();
    const [fromA, fromB] = runsOf(readings.get(topic)!);
    for (const [name, seqs] of [['A', fromA!], ['B', fromB!]] as const) {
      const distinct = new Set(seqs.map((r) => r.values.seq));
      assert.equal(distinct.size, Math.max(...distinct), `${name}'s readings are gapless from 1 (${distinct.size} distinct, max ${Math.max(...distinct)})`);
    }
    const lastOfA = fromA!.reduce((x, y) => (y.values.seq > x.values.seq ? y : x));
    assert.ok(lastOfA.ts >= restartAt, `A's last reading (seq ${lastOfA.values.seq}) was taken ${restartAt - lastOfA.ts} ms before the restart request`);
  });

  it('refuses, with a clear reply and nothing installed: wrong signature, wrong SHA-256, other architecture, truncated file, unknown key, downgrade', async () => {
    const agentId = 'upd-refuse';
    const a = startA(agentId);
    await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
    const arm64 = Buffer.alloc(1024 * 1024);
    // An ELF header of a 64-bit little-endian executable for aarch64 (e_machine 183).
    Buffer.from('7f454c46020101000000000000000000', 'hex').copy(arm64);
    arm64.writeUInt16LE(2, 16);
    arm64.writeUInt16LE(183, 18);
    const truncated = b.subarray(0, 4 * 1024 * 1024);
    const good = signed(b, '0.2.0');
    const cases: { name: string; params: unknown; status: number; message: RegExp }[] = [
      { name: 'wrong signature', params: { ...good, signature: sign(null, Buffer.from('something else'), operatorKey.privateKey).toString('base64') }, status: 422, message: /signature does not verify/ },
      { name: 'wrong SHA-256', params: { ...good, sha256: createHash('sha256').update('something else').digest('hex') }, status: 422, message: /SHA-256 is [0-9a-f]{64}, not the/ },
      { name: 'other architecture', params: signed(arm64, '0.2.0'), status: 422, message: /executable for arm64; this gateway is x64/ },
      { name: 'truncated file', params: { ...signed(truncated, '0.2.0'), sha256: good.sha256, signature: good.signature }, status: 422, message: /truncated or wrong file/ },
      { name: 'key not in the config', params: signed(b, '0.2.0', strangerKey.privateKey), status: 422, message: /does not verify with the key in update\.publicKeys/ },
      { name: 'downgrade', params: { ...signed(b, '0.0.9'), version: '0.0.9' }, status: 409, message: /0\.0\.9 is older than the running .*allowDowngrade/ },
    ];
    for (const c of cases) {
      const id = await send(agentId, 'agent.update', c.params);
      const outcome = await reply(id, (r) => r.status !== 202, 60_000, a.supervised);
      assert.equal(outcome.ok, false, c.name);
      assert.equal(outcome.status, c.status, `${c.name}: ${JSON.stringify(outcome)}`);
      assert.match(outcome.error ?? '', c.message, c.name);
      nothingInstalled(a.dataDir);
    }
    assert.equal(a.supervised.runs.length, 1, 'A was never restarted');
    await a.supervised.stop();
  });

  it('a kill -9 mid-download (a power cut): the restarted A resumes the download with Range and completes the update', async () => {
    const agentId = 'upd-killed';
    const a = startA(agentId);
    await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
    const params = signed(b, '0.2.0', operatorKey.privateKey, '/0.2.0-stalled');
    const half = Math.floor(b.length / 2);
    // The first response stops sending (the link hangs) half-way: A is killed while it waits.
    server.stallAfter('/0.2.0-stalled', [half]);
    const id = await send(agentId, 'agent.update', params);
    await reply(id, (r) => r.status === 202, 30_000, a.supervised);
    await waitUntil(() => existsSync(join(a.dataDir, 'update/download')) && readdirSync(join(a.dataDir, 'update/download')).some((f) => f.endsWith('.part')), 30_000, 'a partial download');
    const part = join(a.dataDir, 'update/download', readdirSync(join(a.dataDir, 'update/download')).find((f) => f.endsWith('.part'))!);
    await waitUntil(() => statSync(part).size > half / 2, 30_000, 'half the file on disk');
    process.kill(a.supervised.runs[0]!.pid, 'SIGKILL');
    await a.supervised.waitForLog((l) => l.event === 'update-resumed', 30_000, 'the download resumed after the restart');
    const done = await reply(id, (r) => r.status !== 202, 120_000, a.supervised);
    assert.equal(done.ok, true, JSON.stringify(done));
    assert.equal(done.data?.version, '0.2.0');
    assert.ok(server.requests.some((r) => r.path === '/0.2.0-stalled' && r.range !== undefined && r.status === 206), `resumed with Range: ${JSON.stringify(server.requests.filter((r) => r.path === '/0.2.0-stalled'))}`);
    assert.deepEqual(a.supervised.logs.filter((l) => l.event === 'started').map((l) => l.version), [AGENT_VERSION, AGENT_VERSION, '0.2.0']);
    await a.supervised.stop();
  });

  it('a kill -9 of B while on trial (a power cut before it confirmed): A comes back and the failure is reported', async () => {
    const agentId = 'upd-trialkill';
    const proxy = await startFaultProxy(broker.port);
    try {
      const a = startA(agentId, { url: proxy.url, confirmWithin: '60s' });
      await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
      const id = await send(agentId, 'agent.update', signed(b, '0.2.0'));
      await a.supervised.waitForLog((l) => l.event === 'update-installed', 60_000, 'B installed');
      // B cannot confirm while the link refuses; it is killed on trial.
      proxy.setMode({ kind: 'refuse' });
      proxy.reset();
      await a.supervised.waitForLog((l) => l.event === 'update-trial', 30_000, 'B on trial');
      process.kill(a.supervised.runs.at(-1)!.pid, 'SIGKILL');
      await a.supervised.waitForLog((l) => l.event === 'update-rolled-back', 30_000, 'the launcher rolled back');
      proxy.setMode({ kind: 'pass' });
      const outcome = await reply(id, (r) => r.status === 500, 60_000, a.supervised);
      assert.match(outcome.error ?? '', /update to 0\.2\.0 rolled back: 0\.2\.0 stopped before it confirmed/);
      assert.deepEqual(a.supervised.logs.filter((l) => l.event === 'started').map((l) => l.version), [AGENT_VERSION, '0.2.0', AGENT_VERSION]);
      await a.supervised.stop();
    } finally {
      await proxy.close();
    }
  });

  it('rolls back a B that exits at start: A runs again and reports the failure', async () => {
    const agentId = 'upd-crash';
    const a = startA(agentId);
    await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
    const id = await send(agentId, 'agent.update', signed(readFileSync(binaries.crash), '0.2.1'));
    const outcome = await reply(id, (r) => r.status !== 202, 120_000, a.supervised);
    assert.equal(outcome.ok, false);
    assert.match(outcome.error ?? '', /update to 0\.2\.1 rolled back: 0\.2\.1 stopped before it confirmed/);
    assert.deepEqual(outcome.data, { version: AGENT_VERSION, failedVersion: '0.2.1', outcome: 'rolled-back' });
    assert.ok(a.supervised.output.some((line) => line.includes('this build exits at start')), 'B did run');
    assert.deepEqual(a.supervised.logs.filter((l) => l.event === 'started').map((l) => l.version), [AGENT_VERSION, AGENT_VERSION]);
    await a.supervised.stop();
  });

  it('rolls back a B that cannot connect within update.confirmWithin, and A reports it once the link is back', async () => {
    const agentId = 'upd-noconnect';
    const proxy = await startFaultProxy(broker.port);
    try {
      const a = startA(agentId, { url: proxy.url, confirmWithin: '5s' });
      await a.supervised.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
      const id = await send(agentId, 'agent.update', signed(b, '0.2.0'));
      await a.supervised.waitForLog((l) => l.event === 'update-installed', 60_000, 'B installed');
      proxy.setMode({ kind: 'refuse' });
      proxy.reset();
      await a.supervised.waitForLog((l) => l.event === 'update-rolled-back', 60_000, 'B gave up');
      await a.supervised.waitForLog((l) => l.event === 'started' && l.version === AGENT_VERSION && a.supervised.logs.indexOf(l) > 0, 30_000, 'A again');
      proxy.setMode({ kind: 'pass' });
      const outcome = await reply(id, (r) => r.status === 500, 60_000, a.supervised);
      assert.match(outcome.error ?? '', /update to 0\.2\.0 rolled back: it did not connect to a cloud within update\.confirmWithin \(5 s\)/);
      assert.deepEqual(a.supervised.logs.filter((l) => l.event === 'started').map((l) => l.version), [AGENT_VERSION, '0.2.0', AGENT_VERSION]);
      await a.supervised.stop();
    } finally {
      await proxy.close();
    }
  });
});

/** Readings of one topic split into the runs of the process that took them (seq restarts at 1). */
function runsOf(items: Reading[]): Reading[][] {
  // At least once: a reading sent again after the restart is the same (ts, seq), counted once.
  const unique = new Map(items.map((r) => [`${r.ts}:${r.values.seq}`, r]));
  const sorted = [...unique.values()].sort((x, y) => x.ts - y.ts || x.values.seq - y.values.seq);
  const runs: Reading[][] = [];
  for (const item of sorted) {
    if (item.values.seq === 1 || runs.length === 0) runs.push([]);
    runs.at(-1)!.push(item);
  }
  return runs;
}
