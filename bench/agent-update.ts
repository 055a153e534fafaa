// A remote agent update (agent.update) timed and weighed, end to end with the built binaries, the
// scenario of test/integration/agent-update.test.ts: binary A (this version) runs under a supervisor
// that restarts it as systemd would, is told over MQTT (generic adapter, local Mosquitto) to update
// to B (--version 0.2.0), downloads B from a local HTTPS server, verifies and installs it, exits 75,
// and the restarted A execs B, which connects and confirms. Per run, from the agents' own log times:
//   download        update-accepted -> update-downloaded, and the throughput without the backoff waits
//                   before each resume (update-download-retry's delayMs: 0.5–1 s after a cut)
//   verification    update-downloaded -> update-installed: SHA-256, Ed25519 over the whole file, ELF
//                   header, `B version`, the rename and state.json (SHA-256 and Ed25519 alone are also
//                   timed in this process over B in memory, for scale)
//   restart         update-installed -> update-confirmed (logged by B): A's 500 ms pause and stop,
//                   the supervisor's restart delay and A's start up to the launcher (update-trial-start),
//                   then the exec, B's start and its connection
//   memory          A's RSS idle before the command, and at its peak during the update: VmRSS sampled
//                   every 20 ms and VmHWM (reset with clear_refs when the command is sent): the cost of
//                   reading the whole file for Ed25519 (verify.ts)
//   bytes written   /proc/<pid>/io write_bytes of A from the command to its exit (sampled every 20 ms,
//                   the last value kept), against B's size. Counts `B version`'s writes too (the kernel
//                   adds a reaped child's I/O to its parent's)
//   re-downloaded   with CUTS=n the server cuts the first n responses at i/(n+1) of the file; bytes it
//                   sent beyond the file's size (what was sent twice because a resume started before
//                   the cut)
// Figures are median (min–max over the runs); nothing is asserted. Builds both binaries first (~1 min).
//   npx node bench/agent-update.ts              RUNS=3 (fresh install and data dir each), CUTS=2 (0: none)
// A runs with MALLOC_ARENA_MAX=2, as systemd/edge-agent.service sets it (override it in the
// environment), and with its binary's page cache dropped first, as bench/agent-memory.ts does. The
// supervisor restarts after 300 ms; systemd/edge-agent.service has RestartSec=5s, which adds ~4.7 s
// to the restart on a gateway. The temp dir must be on a disk, not tmpfs (write_bytes is 0 there).
import { execFile, execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, sign, verify } from 'node:crypto';
import { closeSync, copyFileSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import mqtt, { type MqttClient } from 'mqtt';
import { publicKeyLine } from '../src/update/public-keys.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';
import { supervise, type Supervised } from '../test/helpers/supervisor.ts';
import { startUpdateServer, type UpdateServer } from '../test/helpers/update-server.ts';
import { waitUntil } from '../test/helpers/wait.ts';

const RUNS = Number(process.env.RUNS ?? 3);
const CUTS = Number(process.env.CUTS ?? 2);
if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`RUNS: expected a positive integer, found ${process.env.RUNS}`);
if (!Number.isInteger(CUTS) || CUTS < 0 || CUTS > 8) throw new Error(`CUTS: expected 0 to 8, found ${process.env.CUTS}`);
const ROOT = resolve(import.meta.dirname, '..');
const B_VERSION = '0.2.0';
/** A idles this long after subscribing before its RSS is taken, so start-up garbage has settled. */
const IDLE_MS = 5000;
const SAMPLE_MS = 20;
/** The supervisor's default; systemd/edge-agent.service waits RestartSec=5s. */
const RESTART_DELAY_MS = 300;
const mallocArenaMax = process.env.MALLOC_ARENA_MAX ?? '2';

interface Reply {
  id: string | null;
  ok: boolean;
  status: number;
  data?: { version?: string };
  error?: string;
}

interface Memory {
  rss: number;
  anon: number;
  hwm: number;
}

interface Run {
  downloadMs: number;
  backoffMs: number;
  verifyMs: number;
  restartMs: number;
  stopMs: number;
  relaunchMs: number;
  execToConfirmedMs: number;
  idle: Memory;
  peak: Memory;
  written: number;
  redownloaded: number;
  requests: number;
  cutAt: number[];
  resumedAt: number[];
  sha256Ms: number;
  ed25519Ms: number;
}

const kb = (status: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024;
const memoryOf = (pid: number): Memory => {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: kb(status, 'VmRSS'), anon: kb(status, 'RssAnon'), hwm: kb(status, 'VmHWM') };
};
const writeBytesOf = (pid: number) => Number(/^write_bytes:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MB`;
const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const spread = (values: number[], show: (n: number) => string) => {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return sorted.length === 1 ? show(median) : `${show(median)} (${show(sorted[0]!)}–${show(sorted.at(-1)!)})`;
};

/** Flushed, then dropped from the page cache (dd iflag=nocache): A maps its binary as if read from the card. */
function dropFromPageCache(file: string): void {
  const fd = openSync(file, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0'], { stdio: 'ignore' });
}

const work = mkdtempSync(join(tmpdir(), 'edge-agent-update-bench-'));
if (statfsSync(work).type === 0x01021994) process.stderr.write(`agent-update: ${work} is on tmpfs: write_bytes will be 0; set TMPDIR to a directory on a disk\n`);
const binaries = { a: join(work, 'a/edge-agent-linux-x64'), b: join(work, 'b/edge-agent-linux-x64') };
const operatorKey = generateKeyPairSync('ed25519');
let server: UpdateServer | undefined;
let broker: Mosquitto | undefined;
let operator: MqttClient | undefined;
let current: Supervised | undefined;
let cleaning: Promise<void> | undefined;
const replies = new Map<string, Reply[]>();

/** Stops whatever is running and removes every temp dir; once, whether the bench ends, fails or is interrupted. */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    const steps = [() => current?.stop(), () => operator?.endAsync(true), () => broker?.cleanup(), () => server?.close()];
    for (const step of steps) await Promise.resolve(step()).catch((error: unknown) => process.stderr.write(`agent-update: cleanup: ${String(error)}\n`));
    rmSync(work, { recursive: true, force: true });
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void cleanup().finally(() => process.exit(130)));

async function updateOnce(index: number, b: Buffer, params: { url: string; sha256: string; signature: string; version: string }, path: string): Promise<Run> {
  const agentId = `bench-update-${index}`;
  const dir = join(work, `run-${index}`);
  mkdirSync(join(dir, 'bin'), { recursive: true });
  const bin = join(dir, 'bin/edge-agent');
  copyFileSync(binaries.a, bin);
  dropFromPageCache(bin);
  // As startA in test/integration/agent-update.test.ts: a sensor at 20 readings/s keeps the pipeline busy.
  const config = {
    version: 1,
    agent: { id: agentId, dataDir: join(dir, 'data') },
    cloud: { provider: 'mqtt', url: broker!.url, linger: '200ms' },
    sensors: [{ id: 'counter', type: 'simulated', interval: '50ms' }],
    health: { telemetry: false, http: { enabled: false } },
    commands: { allow: ['ping', 'agent.update'] },
    update: { publicKeys: [publicKeyLine(operatorKey.publicKey)], tls: { ca: server!.caPath }, confirmWithin: '90s' },
  };
  const configPath = join(dir, 'agent.config.json');
  writeFileSync(configPath, JSON.stringify(config, null, 2));
  const agent = supervise(bin, ['run', '--config', configPath], {
    cwd: dir,
    env: { PATH: process.env.PATH, EDGE_AGENT_CACHE_DIR: join(dir, 'cache'), MALLOC_ARENA_MAX: mallocArenaMax },
    restartDelayMs: RESTART_DELAY_MS,
  });
  current = agent;
  let sampling = true;
  try {
    await agent.waitForLog((l) => l.event === 'subscribed', 30_000, 'A connected');
    await sleep(IDLE_MS);
    const pid = agent.runs[0]!.pid;
    const idle = memoryOf(pid);
    // clear_refs 5 resets VmHWM (proc(5)): from here it is the update's peak.
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    const peak: Memory = { rss: 0, anon: 0, hwm: 0 };
    let written = writeBytesOf(pid);
    const writtenBefore = written;
    const cutAt = Array.from({ length: CUTS }, (_, k) => Math.floor((b.length * (k + 1)) / (CUTS + 1)));
    if (CUTS > 0) server!.cutAfter(path, cutAt);
    let exitedAt = 0;
    const sampler = (async () => {
      while (sampling && agent.runs[0]!.exit === undefined) {
        try {
          const m = memoryOf(pid);
          // A zombie has no VmRSS line.
          if (m.rss > peak.rss) Object.assign(peak, { rss: m.rss, anon: m.anon });
          peak.hwm = Math.max(peak.hwm, m.hwm);
          const w = writeBytesOf(pid);
          if (Number.isFinite(w)) written = Math.max(written, w);
        } catch {
          // exiting: the last value read stands
        }
        await sleep(SAMPLE_MS);
      }
      exitedAt = Date.now();
    })();

    const id = `${agentId}-update`;
    await operator!.publishAsync(`edge-agent/${agentId}/commands`, JSON.stringify({ id, name: 'agent.update', params }), { qos: 1 });
    const failed = (event: string | undefined) => event === 'update-refused' || event === 'update-failed' || event === 'update-rolled-back';
    await waitUntil(() => (replies.get(id) ?? []).some((r) => r.status !== 202) || agent.logs.some((l) => failed(l.event)), 180_000, () => `the outcome of ${id}\n${agent.tail()}`);
    const outcome = (replies.get(id) ?? []).find((r) => r.status !== 202);
    if (!outcome?.ok || outcome.data?.version !== B_VERSION) throw new Error(`the update did not succeed: ${JSON.stringify(outcome)}\n${agent.tail()}`);
    await agent.waitForLog((l) => l.event === 'update-confirmed', 30_000, 'B confirmed');
    await sampler;

    const lineOf = (event: string) => {
      const line = agent.logs.find((l) => l.event === event);
      if (!line) throw new Error(`no ${event} in the log\n${agent.tail()}`);
      return line;
    };
    const at = (event: string) => Date.parse(String(lineOf(event).time));
    const backoffMs = agent.logs.filter((l) => l.event === 'update-download-retry').reduce((sum, l) => sum + Number(l.delayMs), 0);
    // The i-th response to the path is cut at cutAt[i] (or at its start, unanswered): bytes sent = its end - its start.
    const served = server!.requests.filter((r) => r.path === path);
    const sent = served.reduce((sum, r, i) => {
      if (r.status !== 200 && r.status !== 206) return sum;
      const start = r.range ? Number(/^bytes=(\d+)-/.exec(r.range)?.[1] ?? 0) : 0;
      return sum + Math.max(Math.min(cutAt[i] ?? b.length, b.length) - start, 0);
    }, 0);

    // For scale: the two hashes of the verification, here over B in memory (A reads it from its file).
    let t = performance.now();
    createHash('sha256').update(b).digest();
    const sha256Ms = performance.now() - t;
    t = performance.now();
    verify(null, b, operatorKey.publicKey, Buffer.from(params.signature, 'base64'));
    const ed25519Ms = performance.now() - t;

    return {
      downloadMs: at('update-downloaded') - at('update-accepted'),
      backoffMs,
      verifyMs: at('update-installed') - at('update-downloaded'),
      restartMs: at('update-confirmed') - at('update-installed'),
      stopMs: exitedAt - at('update-installed'),
      relaunchMs: at('update-trial-start') - exitedAt,
      execToConfirmedMs: at('update-confirmed') - at('update-trial-start'),
      idle,
      peak,
      written: written - writtenBefore,
      redownloaded: sent - b.length,
      requests: served.length,
      cutAt,
      resumedAt: (lineOf('update-downloaded').resumedAt as number[] | undefined) ?? [],
      sha256Ms,
      ed25519Ms,
    };
  } finally {
    sampling = false;
    await agent.stop();
    current = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  const run = promisify(execFile);
  const build = (out: string, ...args: string[]) => run(process.execPath, [join(ROOT, 'scripts/build-binary.ts'), '--target', 'linux-x64', '--out', out, ...args], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  const buildStart = performance.now();
  process.stderr.write('agent-update: building A and B...\n');
  await build(join(work, 'a'));
  await build(join(work, 'b'), '--version', B_VERSION);
  process.stderr.write(`agent-update: built in ${seconds(performance.now() - buildStart)}\n`);
  const b = readFileSync(binaries.b);
  const sha256 = createHash('sha256').update(b).digest('hex');
  const signature = sign(null, b, operatorKey.privateKey).toString('base64');
  const aVersion = /^edge-agent (\S+)/.exec(execFileSync(binaries.a, ['version'], { env: { PATH: process.env.PATH, EDGE_AGENT_CACHE_DIR: join(work, 'probe-cache') }, encoding: 'utf8' }))?.[1] ?? '?';

  server = await startUpdateServer();
  broker = await startMosquitto();
  operator = await mqtt.connectAsync(broker.url, { clientId: 'bench-update-operator' });
  operator.on('message', (_topic, payload) => {
    const reply = JSON.parse(payload.toString()) as Reply;
    if (reply.id !== null) replies.set(reply.id, [...(replies.get(reply.id) ?? []), reply]);
  });
  await operator.subscribeAsync('edge-agent/+/replies', { qos: 1 });

  const results: Run[] = [];
  for (let i = 1; i <= RUNS; i++) {
    process.stderr.write(`agent-update: run ${i}/${RUNS}\n`);
    // A path per run, so each run's requests (and cuts) are its own.
    const path = `/run-${i}/edge-agent-${B_VERSION}`;
    server.serve(path, b);
    results.push(await updateOnce(i, b, { url: server.url(path), sha256, signature, version: B_VERSION }, path));
  }

  const of = (pick: (r: Run) => number, show: (n: number) => string) => spread(results.map(pick), show);
  const netMs = (r: Run) => r.downloadMs - r.backoffMs;
  const lines = [
    `agent update: edge-agent-linux-x64 ${aVersion} -> ${B_VERSION}, B ${fmt(b.length)} bytes (${mb(b.length)}), ${RUNS} run(s), ${CUTS} cut(s) per download, MALLOC_ARENA_MAX=${mallocArenaMax}; median (min–max)`,
    `  download            ${of((r) => r.downloadMs, seconds)}, of which backoff before resuming ${of((r) => r.backoffMs, seconds)}`,
    `    throughput        ${of((r) => b.length / 1048576 / (netMs(r) / 1000), (n) => `${n.toFixed(0)} MB/s`)} without the backoff waits (loopback HTTPS)`,
    ...(CUTS > 0
      ? [
          `    re-downloaded     ${of((r) => r.redownloaded, (n) => `${fmt(n)} bytes`)} sent beyond the file's size, over ${of((r) => r.requests, fmt)} requests`,
          ...results.map((r, i) => `      run ${i + 1}: cut at ${r.cutAt.map(fmt).join(', ')}; resumed at ${r.resumedAt.map(fmt).join(', ') || '(none)'}`),
        ]
      : []),
    `  verification        ${of((r) => r.verifyMs, seconds)} (update-downloaded -> update-installed); for scale, over B in this process: SHA-256 ${of((r) => r.sha256Ms, seconds)}, Ed25519 verify ${of((r) => r.ed25519Ms, seconds)}`,
    `  restart to confirmed ${of((r) => r.restartMs, seconds)} (update-installed -> update-confirmed by B)`,
    `    A pauses, stops   ${of((r) => r.stopMs, seconds)} (to A's exit, seen within ${SAMPLE_MS} ms)`,
    `    to the launcher   ${of((r) => r.relaunchMs, seconds)} (supervisor's ${RESTART_DELAY_MS} ms delay, A's start to update-trial-start)`,
    `    exec, B connects  ${of((r) => r.execToConfirmedMs, seconds)} (update-trial-start -> update-confirmed)`,
    `  RSS of A idle       ${of((r) => r.idle.rss, mb)} (private ${of((r) => r.idle.anon, mb)}), ${IDLE_MS / 1000} s after subscribing`,
    `  RSS of A, update    peak sampled every ${SAMPLE_MS} ms ${of((r) => r.peak.rss, mb)} (private ${of((r) => r.peak.anon, mb)}); VmHWM ${of((r) => r.peak.hwm, mb)}; above idle ${of((r) => r.peak.hwm - r.idle.rss, mb)}`,
    `  written by A        ${of((r) => r.written, mb)} (write_bytes, command -> exit), ${of((r) => r.written / b.length, (n) => `${n.toFixed(3)}×`)} B's size`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
} finally {
  await cleanup();
}
