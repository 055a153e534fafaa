// The single-file binaries, built from this checkout (scripts/build-binary.ts, ~25 s on 2 cores
// once npm's cache holds the runtimes). Opt-in, as it is slow and CPU-heavy:
//   EDGE_AGENT_BINARY_TEST=1 npx node --test test/integration/binary.test.ts
// The x64 binary is copied alone into an empty directory and run with an empty environment
// (env -i): no node_modules, no Node on PATH. The arm64 binary runs under qemu-user when present.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { collect } from '../helpers/mqtt-collector.ts';
import { startMosquitto } from '../helpers/mosquitto.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const enabled = process.env.EDGE_AGENT_BINARY_TEST === '1';
const QEMU = '/usr/bin/qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

describe('single-file binary', { skip: !enabled && 'set EDGE_AGENT_BINARY_TEST=1 to build and test the binaries' }, () => {
  const work = mkdtempSync(join(tmpdir(), 'edge-agent-binary-'));
  const out = join(work, 'dist');
  const lonely = join(work, 'empty');
  const x64 = join(lonely, 'edge-agent-linux-x64');
  const bare = (args: string[], env: Record<string, string> = {}) => run('env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), x64, ...args], { cwd: lonely });

  before(async () => {
    await run(process.execPath, [join(ROOT, 'scripts/build-binary.ts'), '--out', out], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    mkdirSync(lonely);
    copyFileSync(join(out, 'edge-agent-linux-x64'), x64);
    writeFileSync(
      join(lonely, 'agent.config.json'),
      JSON.stringify({ version: 1, agent: { id: 'binary-test', dataDir: './data' }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 'room-1', type: 'simulated', interval: '200ms' }] }),
    );
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('both binaries exist, with checksums', () => {
    for (const name of ['edge-agent-linux-x64', 'edge-agent-linux-arm64']) {
      assert.ok(statSync(join(out, name)).size > 50_000_000, name);
      assert.match(readFileSync(join(out, 'SHA256SUMS'), 'utf8'), new RegExp(`^[0-9a-f]{64}  ${name}$`, 'm'));
    }
  });

  test('x64: version and check-config alone, with an empty environment', async () => {
    const version = await bare(['version']);
    assert.match(version.stdout, /^edge-agent \S+ \(node v24\.\d+\.\d+, linux-x64\)/);
    const check = await bare(['check-config', '--config', 'agent.config.json']);
    assert.match(check.stdout, /^OK agent\.config\.json/);
  });

  // `edge-agent health-sample` (hidden; src/cli/health-sample.ts).
  test('x64: a health sample through systeminformation works inside the bundle', async () => {
    const { stdout } = await bare(['health-sample']);
    const sample = JSON.parse(stdout) as { memTotalBytes: number; cpuLoadPercent: number };
    assert.ok(sample.memTotalBytes > 0);
    assert.ok(sample.cpuLoadPercent >= 0);
  });

  test('x64: the example pipeline runs end to end to a local broker through its SQLite outbox', async () => {
    const broker = await startMosquitto();
    const dir = mkdtempSync(join(work, 'run-'));
    copyFileSync(x64, join(dir, 'edge-agent'));
    writeFileSync(join(dir, 'agent.config.json'), JSON.stringify({ version: 1, agent: { id: 'binary-test', dataDir: './data' }, cloud: { provider: 'mqtt', url: broker.url }, sensors: [{ id: 'room-1', type: 'simulated', interval: '200ms' }] }));
    const collector = await collect(broker.url, '#');
    // HOME is unset under env -i: the native addons are unpacked to the directory given here.
    const agent = spawn('env', ['-i', `EDGE_AGENT_CACHE_DIR=${join(dir, 'cache')}`, './edge-agent', 'run', '--config', 'agent.config.json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    agent.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    agent.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      await collector.waitForMessage((_topic, payload) => payload.toString().includes('room-1'), 20_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}\nagent output:\n${output}`);
      });
      assert.ok(existsSync(join(dir, 'data/outbox.db')), 'the outbox is a SQLite file in the data dir');
      const exited = new Promise<number | null>((r) => agent.once('exit', r));
      agent.kill('SIGTERM');
      assert.equal(await exited, 0, output);
    } finally {
      agent.kill('SIGKILL');
      await collector.close();
      await broker.cleanup();
    }
  });

  test('arm64: version and check-config under qemu', { skip: !existsSync(QEMU) && 'qemu-user-static not installed' }, async () => {
    const arm = join(lonely, 'edge-agent-linux-arm64');
    copyFileSync(join(out, 'edge-agent-linux-arm64'), arm);
    const env = ['-i', `QEMU_LD_PREFIX=${ARM64_SYSROOT}`, `EDGE_AGENT_CACHE_DIR=${join(work, 'arm-cache')}`];
    const version = await run('env', [...env, QEMU, arm, 'version'], { cwd: lonely });
    assert.match(version.stdout, /\(node v24\.\d+\.\d+, linux-arm64\)/);
    const check = await run('env', [...env, QEMU, arm, 'check-config', '--config', 'agent.config.json'], { cwd: lonely });
    assert.match(check.stdout, /^OK agent\.config\.json/);
  });
});
