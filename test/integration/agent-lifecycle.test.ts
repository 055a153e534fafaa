// The real CLI: exit codes, signals, reload, status.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, REPO_ROOT, startAgent, type AgentProcess } from '../helpers/agent-process.ts';
import { collect } from '../helpers/mqtt-collector.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';

const run = promisify(execFile);

async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { cwd: REPO_ROOT });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('edge-agent check-config', () => {
  it('accepts the example config and summarizes it', async () => {
    const r = await cli('check-config', '--config', join(REPO_ROOT, 'agent.config.json'));
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^OK /);
    assert.match(r.stdout, /room-1\s+simulated/);
  });
  it('exits 78 on every broken fixture, naming path, line and column, with no stack trace', async () => {
    const dir = join(REPO_ROOT, 'test/fixtures/configs/bad');
    const results = await Promise.all(readdirSync(dir).map(async (file) => ({ file, ...(await cli('check-config', '--config', join(dir, file))) })));
    assert.ok(results.length >= 15);
    for (const r of results) {
      assert.equal(r.code, 78, `${r.file}: exit ${r.code}`);
      assert.match(r.stderr, /\(line \d+, col \d+\)/, r.file);
      assert.doesNotMatch(r.stderr, /\n\s+at /, `${r.file} printed a stack trace`);
    }
  });
  it('exits 78 for a missing file', async () => {
    const r = await cli('check-config', '--config', '/nonexistent/agent.config.json');
    assert.equal(r.code, 78);
    assert.match(r.stderr, /does not exist/);
  });
  it('exits 64 on a usage error', async () => {
    assert.equal((await cli('no-such-command')).code, 64);
  });
});

describe('edge-agent run', () => {
  let broker: Mosquitto;
  let agent: AgentProcess | undefined;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await agent?.cleanup();
    await broker.cleanup();
  });

  it('publishes readings, answers status, reloads on SIGHUP, refuses a broken reload, exits 0 on SIGTERM', async () => {
    const collector = await collect(broker.url, 'edge-agent/+/telemetry/#');
    agent = startAgent({ cloud: { provider: 'mqtt', url: broker.url }, sensors: [{ id: 'room', type: 'simulated', interval: '20ms' }] });
    await agent.waitForLog((l) => l.event === 'connected');
    await collector.waitForSeqs(20);

    const status = await cli('status', '--config', agent.configPath, '--json');
    assert.equal(status.code, 0, status.stderr);
    const snapshot = JSON.parse(status.stdout);
    assert.equal(snapshot.link.state, 'connected');
    assert.ok(snapshot.sensors.room.readings > 0);
    const text = await cli('status', '--config', agent.configPath);
    assert.match(text.stdout, /link\s+connected/);

    // A broken file on SIGHUP is refused; the agent keeps running on the old config.
    const good = readFileSync(agent.configPath, 'utf8');
    writeFileSync(agent.configPath, good.replace('"interval": "20ms"', '"interval": "soon"'));
    agent.signal('SIGHUP');
    const refused = await agent.waitForLog((l) => l.event === 'reload-refused');
    assert.match(String(refused.msg), /sensors\[0\]\.interval \(line \d+, col \d+\)/);
    const before = collector.seqs.size;
    await collector.waitForSeqs(before + 10);

    // A valid change is applied.
    writeFileSync(agent.configPath, good.replace('"id": "room"', '"id": "hall"'));
    agent.signal('SIGHUP');
    await agent.waitForLog((l) => l.event === 'reloaded');
    await collector.waitForMessage((topic) => topic.endsWith('/hall'));

    const started = Date.now();
    assert.equal(await agent.stop(), 0);
    assert.ok(Date.now() - started < 5000, 'stopped within 5 s');
    await collector.close();
  });

  it('says clearly when the data dir cannot be used', async () => {
    const r = await cli('check-config', '--config', join(REPO_ROOT, 'agent.config.json'));
    assert.equal(r.code, 0);
    // A file where the data dir's parent should be: no user, root included, can create it.
    const blocker = join(mkdtempSync(join(tmpdir(), 'edge-agent-blocked-')), 'not-a-dir');
    writeFileSync(blocker, '');
    const blocked = startAgent({ cloud: { provider: 'mqtt', url: broker.url }, agent: { dataDir: join(blocker, 'data') } });
    const code = await blocked.exited;
    await blocked.cleanup();
    rmSync(dirname(blocker), { recursive: true, force: true });
    assert.equal(code, 73);
    assert.match(blocked.stderr.join(''), /cannot use the data directory .*not-a-dir\/data \(ENOTDIR\)/);
  });
});
