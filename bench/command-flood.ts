// The agent under a hostile command flood (issue #16): 128 KB names, 128 KB parameter keys, 2 MB
// payloads, deeply nested JSON and a stream of small valid pings, as fast as a local Mosquitto
// takes them, for a bounded time. Prints the agent's RSS and JS heap idle and at their peak during
// the flood, and how it answered. Figures only; nothing is asserted. Loopback only; stops by itself.
//   npx node bench/command-flood.ts [seconds=20] [agent=dist/edge-agent-linux-x64]
// Without the binary, runs the TS CLI under the binary's heap caps (BINARY_HEAP_FLAGS).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { BINARY_HEAP_FLAGS } from '../scripts/binary/targets.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';

const seconds = Number(process.argv[2] ?? 20);
const binary = resolve(process.argv[3] ?? 'dist/edge-agent-linux-x64');
const useBinary = existsSync(binary);
const cli = resolve(import.meta.dirname, '../src/cli/main.ts');

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-flood-'));
let broker: Mosquitto | undefined;
let agent: ReturnType<typeof spawn> | undefined;
let attacker: mqtt.MqttClient | undefined;
try {
  broker = await startMosquitto({ configLines: ['allow_anonymous true', 'set_tcp_nodelay true'] });
  const healthPort = await freePort();
  const configPath = join(dir, 'agent.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      version: 1,
      agent: { id: 'bench', dataDir: join(dir, 'data') },
      cloud: { provider: 'mqtt', url: broker.url },
      sensors: [{ id: 'room-1', type: 'simulated', interval: '1s' }],
      commands: { allow: ['ping', 'status'] },
      health: { http: { listen: `127.0.0.1:${healthPort}` } },
    }),
  );
  const logPath = join(dir, 'agent.log');
  const logFd = openSync(logPath, 'w');
  const [command, args, env] = useBinary
    ? [binary, ['run', '--config', configPath], { NODE_OPTIONS: process.env.AGENT_NODE_OPTIONS ?? '' }]
    : [process.execPath, [cli, 'run', '--config', configPath], { NODE_OPTIONS: BINARY_HEAP_FLAGS.join(' ') }];
  agent = spawn(command, args, { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...env } });
  const pid = agent.pid!;
  const exited = () => agent!.exitCode !== null || agent!.signalCode !== null;

  let heapPeak = 0;
  const heapNow = async (): Promise<number | undefined> => {
    try {
      const text = await (await fetch(`http://127.0.0.1:${healthPort}/metrics`, { signal: AbortSignal.timeout(2000) })).text();
      const heap = Number(/^edge_agent_process_heap_used_bytes (\d+)/m.exec(text)?.[1] ?? Number.NaN);
      if (Number.isFinite(heap)) heapPeak = Math.max(heapPeak, heap);
      return heap;
    } catch {
      return undefined;
    }
  };
  const subscribed = () => readFileSync(logPath, 'utf8').includes('"event":"subscribed"');
  for (let i = 0; !subscribed(); i++) {
    if (exited() || i > 300) throw new Error(`the agent did not subscribe; see ${logPath}`);
    await sleep(100);
  }
  await sleep(3000);
  const idleHeap = (await heapNow()) ?? 0;
  const idle = readFileSync(`/proc/${pid}/status`, 'utf8');
  const idleRss = kb(idle, 'VmRSS');

  // From here the peak is the flood's (clear_refs 5 resets VmHWM).
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  heapPeak = 0;
  const replies = new Map<number, number>();
  attacker = await mqtt.connectAsync(broker.url, { clientId: 'attacker' });
  attacker.on('message', (_topic, payload) => {
    const status = (JSON.parse(payload.toString()) as { status?: number }).status ?? 0;
    replies.set(status, (replies.get(status) ?? 0) + 1);
  });
  await attacker.subscribeAsync('edge-agent/bench/replies', { qos: 0 });

  const long = 'A'.repeat(128 * 1024);
  const deep = `${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}`;
  const shapes = [
    (i: number) => JSON.stringify({ id: `name-${i}`, name: `${long}${i}` }),
    (i: number) => JSON.stringify({ id: `key-${i}`, name: 'ping', params: { [`${long}${i}`]: i } }),
    (i: number) => JSON.stringify({ id: `ping-${i}`, name: 'ping' }),
    (i: number) => JSON.stringify({ id: `ping-${i}`, name: 'ping' }),
    (i: number) => (i % 40 === 0 ? Buffer.alloc(2 * 1024 * 1024, 0x5b) : `{"id":"deep-${i}","name":"ping","params":${deep}}`),
  ];
  let sent = 0;
  let sentBytes = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling && !exited()) {
      await heapNow();
      await sleep(250);
    }
  })();
  const floodStart = performance.now();
  const until = floodStart + seconds * 1000;
  while (performance.now() < until && !exited()) {
    // A few in flight at a time: as fast as the broker takes them, without queueing in this process.
    const batch = Array.from({ length: 8 }, () => {
      const payload = shapes[sent % shapes.length]!(sent);
      sent++;
      sentBytes += Buffer.byteLength(payload);
      return attacker!.publishAsync('edge-agent/bench/commands', payload, { qos: 1 });
    });
    await Promise.all(batch);
  }
  const floodSeconds = (performance.now() - floodStart) / 1000;
  sampling = false;
  await sampler;
  const during = exited() ? '' : readFileSync(`/proc/${pid}/status`, 'utf8');
  // Still alive and answering? A ping after the flood, once the rate has refilled.
  await sleep(2000);
  const before = replies.get(200) ?? 0;
  await attacker.publishAsync('edge-agent/bench/commands', JSON.stringify({ id: 'after', name: 'ping' }), { qos: 1 });
  for (let i = 0; i < 50 && (replies.get(200) ?? 0) === before && !exited(); i++) await sleep(100);
  const answered = (replies.get(200) ?? 0) > before;
  const total = [...replies.values()].reduce((a, b) => a + b, 0);

  process.stdout.write(
    [
      `command flood: ${useBinary ? binary : `TS CLI with ${BINARY_HEAP_FLAGS.join(' ')}`} (default commands.rate: 10/s, burst 32)`,
      `  idle          RSS ${mb(idleRss)}, JS heap in use ${mb(idleHeap)}`,
      `  flood         ${fmt(sent)} hostile messages (${mb(sentBytes)}) in ${floodSeconds.toFixed(1)} s: 128 KB names, 128 KB keys, pings, 2 MB and 50,000-deep JSON`,
      exited()
        ? `  the agent EXITED (code ${agent.exitCode}, signal ${agent.signalCode}); see its log`
        : `  peak          RSS ${mb(kb(during, 'VmHWM'))} during the flood, JS heap in use up to ${mb(heapPeak)}; RSS ${mb(kb(during, 'VmRSS'))} at its end`,
      `  replies       ${fmt(total)}: ${[...replies.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([status, count]) => `${fmt(count)}× ${status}`)
        .join(', ')} (the rest dropped unanswered)`,
      `  after         ping ${answered ? 'answered' : 'NOT answered'}; agent log ${mb(statSync(logPath).size)}`,
      '',
    ].join('\n'),
  );
} finally {
  await attacker?.endAsync().catch(() => undefined);
  agent?.kill('SIGTERM');
  if (agent && agent.exitCode === null && agent.signalCode === null) await new Promise((done) => agent!.once('exit', done));
  await broker?.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
