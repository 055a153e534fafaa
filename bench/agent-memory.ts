// The single binary's memory with a large backlog, as a gateway lives through an outage: RSS while
// the uplink is down and the outbox holds the backlog, then while the backlog drains to a local
// Mosquitto (with the drain rate), then after. Figures only; nothing is asserted.
//   npm run build:binary && npx node bench/agent-memory.ts [readings=1000000] [binary=dist/edge-agent-linux-x64]
// AGENT_NODE_OPTIONS is passed to the agent as NODE_OPTIONS (e.g. "--max-old-space-size=96" to try
// other heap caps than the binary's own, or "--trace-gc"; its output lands in the agent's log).
// The agent runs with MALLOC_ARENA_MAX=2, as systemd/edge-agent.service sets it (override it in the
// environment, e.g. MALLOC_ARENA_MAX=8, to measure without it).
//
// RSS is split the way the kernel reports it (/proc/<pid>/status): private memory (RssAnon: heap,
// SQLite, buffers) and pages mapped from the binary file itself (RssFile: Node's code and read-only
// data, clean pages the kernel can drop and read again). The binary's page cache is dropped first
// (dd iflag=nocache): a file the build has just written sits in large page-cache folios, and mapping
// those adds ~25 MB of RssFile that a gateway, reading the binary from its SD card, never sees.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../test/helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const binary = resolve(process.argv[3] ?? 'dist/edge-agent-linux-x64');
if (!existsSync(binary)) {
  process.stderr.write(`agent-memory: ${binary} not found; build it first: npm run build:binary\n`);
  process.exit(1);
}

interface Memory {
  rss: number;
  anon: number;
  file: number;
  peak: number;
}

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
const memoryOf = (pid: number): Memory => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), file: kb(status, 'RssFile'), peak: kb(status, 'VmHWM') };
};
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const describe = (m: Memory) => `RSS ${mb(m.rss)} (private ${mb(m.anon)}, mapped from the binary ${mb(m.file)})`;

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-memory-'));
const dataDir = join(dir, 'data');
let broker: Mosquitto | undefined;
let agent: ReturnType<typeof spawn> | undefined;
try {
  const fillStart = performance.now();
  execFileSync(process.execPath, [join(import.meta.dirname, 'fill-backlog.ts'), dataDir, String(total)], { stdio: 'inherit' });
  const fillSeconds = (performance.now() - fillStart) / 1000;
  const backlogBytes = statSync(join(dataDir, 'outbox.db')).size;
  const brokerPort = await freePort();
  const healthPort = await freePort();
  const configPath = join(dir, 'agent.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      version: 1,
      agent: { id: 'bench', dataDir },
      cloud: { provider: 'mqtt', url: `mqtt://127.0.0.1:${brokerPort}` },
      sensors: [{ id: 'room-1', type: 'simulated', interval: '1s' }],
      health: { http: { listen: `127.0.0.1:${healthPort}` } },
    }),
  );
  let heapPeak = 0;
  let linkUp = false;
  const pending = async (): Promise<number | undefined> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`)).text();
      heapPeak = Math.max(heapPeak, Number(/^edge_agent_process_heap_used_bytes (\d+)/m.exec(text)?.[1] ?? 0));
      linkUp = /^edge_agent_link_up 1$/m.test(text);
      const value = /^edge_agent_outbox_pending (\d+)/m.exec(text)?.[1];
      return value === undefined ? undefined : Number(value);
    } catch {
      return undefined;
    }
  };

  execFileSync('dd', [`if=${binary}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
  const logFd = openSync(join(dir, 'agent.log'), 'w');
  agent = spawn(binary, ['run', '--config', configPath], { stdio: ['ignore', logFd, logFd], env: { MALLOC_ARENA_MAX: '2', ...process.env, NODE_OPTIONS: process.env.AGENT_NODE_OPTIONS ?? '' } });
  const pid = agent.pid!;
  while ((await pending()) === undefined) {
    if (agent.exitCode !== null) throw new Error(`the agent exited with ${agent.exitCode}; see ${join(dir, 'agent.log')}`);
    await sleep(100);
  }

  // Outage: the backlog sits in the outbox while the agent retries the broker.
  await sleep(10_000);
  const linkDown = memoryOf(pid);
  const held = (await pending()) ?? 0;

  // Uplink back: the peak is measured from here (clear_refs 5 resets VmHWM).
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  heapPeak = 0;
  // Nagle off on the broker, as in bench/drain.ts: otherwise its delayed PUBACKs are what is measured.
  broker = await startMosquitto({ port: brokerPort, configLines: ['allow_anonymous true', 'set_tcp_nodelay true'] });
  // The drain is timed from the reconnection, not from the broker's start (the agent may be in
  // its reconnect backoff).
  let left = held;
  while (!linkUp) {
    await sleep(20);
    left = (await pending()) ?? left;
  }
  const drainStart = performance.now();
  const fromBacklog = left;
  while (left > 50) {
    await sleep(100);
    left = (await pending()) ?? left;
  }
  const drainSeconds = (performance.now() - drainStart) / 1000;
  const draining = memoryOf(pid);
  await sleep(10_000);
  const after = memoryOf(pid);

  process.stdout.write(
    [
      `agent memory: ${binary} (${mb(statSync(binary).size)}), ${process.platform}-${process.arch}`,
      `  backlog       ${fmt(held)} readings pending (${mb(backlogBytes)} on disk, written in ${fillSeconds.toFixed(1)} s by another process)`,
      `  link down     ${describe(linkDown)}, peak ${mb(linkDown.peak)} since start`,
      `  draining      ${fmt(fromBacklog)} readings in ${drainSeconds.toFixed(1)} s after reconnecting (${fmt(fromBacklog / drainSeconds)} readings/s, defaults: 500 per message, 16 in flight), peak RSS ${mb(draining.peak)}, JS heap in use up to ${mb(heapPeak)}`,
      `  drained       ${describe(after)}, 10 s after`,
      '',
    ].join('\n'),
  );
} finally {
  agent?.kill('SIGTERM');
  if (agent && agent.exitCode === null) await new Promise((done) => agent!.once('exit', done));
  await broker?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
