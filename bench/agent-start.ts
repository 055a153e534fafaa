// The single binary's start and idle footprint on a gateway's typical load: 10 simulated sensors at
// 1 Hz to a local Mosquitto, defaults (/health on a free port), run as the systemd unit runs it (MALLOC_ARENA_MAX=2, the
// binary's page cache dropped first as bench/agent-memory.ts explains).
//   start to READY   spawn -> the `started` log line (systemd's READY=1 goes out with it), RUNS times
//                    (default 10) on the same data dir (a restart: the outbox exists, as after an
//                    update, a crash or a reboot), and once on a new one (first start, creating it)
//   idle memory      after IDLE_SECONDS (default 30) of the 10 sensors forwarding: RSS, private
//                    (RssAnon) and mapped from the binary (RssFile), from /proc/<pid>/status
// Figures only; nothing is asserted.
//   npm run build:binary && npx node bench/agent-start.ts [binary=dist/edge-agent-linux-x64]
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/free-port.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';

const binary = resolve(process.argv[2] ?? 'dist/edge-agent-linux-x64');
const runs = Number(process.env.RUNS ?? 10);
const idleSeconds = Number(process.env.IDLE_SECONDS ?? 30);
if (!existsSync(binary)) {
  process.stderr.write(`agent-start: ${binary} not found; build it first: npm run build:binary\n`);
  process.exit(1);
}

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const spread = (values: number[], unit: (n: number) => string) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${unit(sorted[Math.floor(sorted.length / 2)]!)} (${unit(sorted[0]!)}–${unit(sorted.at(-1)!)})`;
};

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-start-'));
const broker = await startMosquitto();
const healthPort = await freePort();
const children = new Set<ChildProcess>();
try {
  // What a gateway reads from its card: no large page-cache folios left by the build.
  execFileSync('dd', [`if=${binary}`, 'iflag=nocache', 'count=0', 'status=none']);
  const config = (dataDir: string) => ({
    version: 1,
    agent: { id: 'start-bench', dataDir },
    cloud: { provider: 'mqtt', url: broker.url },
    sensors: Array.from({ length: 10 }, (_, i) => ({ id: `s${i}`, type: 'simulated', interval: '1s' })),
    // Defaults throughout; only /health's port is a free one, so a running agent cannot collide.
    health: { http: { listen: `127.0.0.1:${healthPort}` } },
  });
  const start = async (index: number): Promise<{ child: ChildProcess; ms: number }> => {
    const runDir = join(dir, `data-${index}`);
    const configPath = `${runDir}.json`;
    writeFileSync(configPath, JSON.stringify(config(runDir)));
    const begun = performance.now();
    const child = spawn(binary, ['run', '--config', configPath], { env: { PATH: process.env.PATH, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2', EDGE_AGENT_CACHE_DIR: join(dir, 'cache') }, stdio: ['ignore', 'pipe', openSync('/dev/null', 'w')] });
    children.add(child);
    let buffered = '';
    const ms = await new Promise<number>((resolveStart, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        if (buffered.includes('"event":"started"')) resolveStart(performance.now() - begun);
      });
      child.once('exit', (code) => reject(new Error(`the agent exited (${code}) before READY:\n${buffered}`)));
    });
    child.stdout!.removeAllListeners('data');
    child.stdout!.resume();
    return { child, ms };
  };
  const stop = async (child: ChildProcess) => {
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await exited;
    children.delete(child);
  };

  // The first start unpacks the native addons into the cache dir (once per version on a gateway) and
  // creates the outbox.
  const first = await start(0);
  await stop(first.child);
  const times: number[] = [];
  for (let i = 1; i <= runs; i++) {
    const { child, ms } = await start(0);
    times.push(ms);
    await stop(child);
  }
  const fresh = await start(1);
  await stop(fresh.child);
  const { child } = await start(0);
  await sleep(idleSeconds * 1000);
  const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
  await stop(child);
  console.log(`agent start and idle: ${binary}, 10 simulated sensors at 1 Hz to local Mosquitto, MALLOC_ARENA_MAX=${process.env.MALLOC_ARENA_MAX ?? '2'}`);
  console.log(`  start to READY  ${spread(times, (n) => `${n.toFixed(0)} ms`)} over ${runs} restarts; first start on a new data dir ${fresh.ms.toFixed(0)} ms`);
  console.log(`  idle after ${idleSeconds} s  RSS ${mb(kb(status, 'VmRSS'))}, private ${mb(kb(status, 'RssAnon'))}, mapped from the binary ${mb(kb(status, 'RssFile'))}`);
} finally {
  for (const child of children) child.kill('SIGKILL');
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
