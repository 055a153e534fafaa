// Flash wear of the real pipeline (issue #18): the agent as a child process, 10 simulated sensors at
// 1 Hz, outbox defaults, the generic MQTT adapter to a local Mosquitto. Prints the bytes written to
// storage per reading with the link up and with it down, fsyncs per second, and the projected GB per
// year at 1 and 10 readings/s; then checks that every reading arrived. Figures only; nothing is asserted.
//   npx node bench/flash-wear.ts [window-seconds=120] [runs=1] [binary, e.g. dist/edge-agent-linux-x64]
//   WARMUP=20 (s, link up; the link-down phase settles 10 s)  FSYNC_WINDOW=30 (s)
//   DOWN_WINDOW=<s> (default: the window): the outbox journal moves into SQLite when it reaches 1 MB,
//   about every 17 minutes here, so a link-down window of 20 minutes or more includes that cost.
//   REPORT=<json> (default: none, every reading): the `report` section given to each of the 10 sensors,
//   e.g. REPORT='{"mode":"window","every":"1m"}'. REPORT=change is short for
//   {"mode":"change","deadband":0.2,"fields":{"seq":{"ignore":true},"humidity":{"deadband":1}}}: seq is a
//   counter (every reading would differ), humidity's noise is ±0.5 %RH. With REPORT the figures add the
//   readings taken and reported per second and the bytes written per second; bytes per reading are per
//   reading taken; and the end check is that each sensor's `reported` count of readings arrived (the
//   suppressed ones never leave the agent), not seq 1..readings.
//   DESTINATIONS=N (default 1): the agent gets "clouds", N generic MQTT destinations to the one local
//   Mosquitto, each with a client id and topics of its own (edge-agent/..., edge-agent-b/..., ...),
//   instead of "cloud": one outbox, per-destination progress. Link up: all connected; link down: the
//   broker stopped, so all down. The end check is made for each destination on its own topics.
//
// Bytes: /proc/<pid>/io `write_bytes`, what the kernel charges the process for dirtying page cache
// that writeback sends to the device (proc(5)): page-granular, so a 60-byte row costs the 4 KB pages
// it touches, which is what an SD card sees. Not `wchar`, which is what was handed to write().
// The agent's stdout and stderr are pipes, never files, so its log is not counted.
// fsyncs: `strace -f -c -e trace=fsync,fdatasync` attached for a separate window after the bytes
// window, so ptrace's slowdown never touches the bytes figure.
// Readings: the sensors' counters from the agent's status socket (what `edge-agent status --json`
// prints), read in this process at each window's edges so both ends are taken at the same moment as
// /proc/<pid>/io (a CLI start would put 0.6 s between the two on this machine).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt, { type MqttClient } from 'mqtt';
import { reportFromEnv } from './report-env.ts';
import { fetchStatus, statusSocketPath } from '../src/status/local-api.ts';
import type { StatusSnapshot } from '../src/status/snapshot.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { startMosquitto, type Mosquitto } from '../test/helpers/mosquitto.ts';

const windowSeconds = Number(process.argv[2] ?? 120);
const runs = Number(process.argv[3] ?? 1);
const binary = process.argv[4] ? resolve(process.argv[4]) : undefined;
const warmupSeconds = Number(process.env.WARMUP ?? 20);
const settleDownSeconds = 10;
const fsyncWindowSeconds = Number(process.env.FSYNC_WINDOW ?? 30);
const downWindowSeconds = Number(process.env.DOWN_WINDOW ?? windowSeconds);
const SENSORS = 10;
const SECONDS_PER_YEAR = 31_536_000;
const CLI = resolve(import.meta.dirname, '../src/cli/main.ts');
if (binary && !existsSync(binary)) {
  process.stderr.write(`flash-wear: ${binary} not found; build it first: npm run build:binary\n`);
  process.exit(1);
}
const haveStrace = !spawnSync('strace', ['-V'], { stdio: 'ignore' }).error;
const report = reportFromEnv('flash-wear');
const reportMode = report ? ((report.mode as string | undefined) ?? 'every') : 'every';
const destinationCount = Number(process.env.DESTINATIONS ?? 1);
if (!Number.isInteger(destinationCount) || destinationCount < 1 || destinationCount > 8) {
  process.stderr.write(`flash-wear: DESTINATIONS: expected 1 to 8, found ${process.env.DESTINATIONS}\n`);
  process.exit(2);
}
const several = destinationCount > 1;
/** Each destination's id and topic prefix: "cloud" on edge-agent/..., then "cloud-b" on edge-agent-b/..., and so on. */
const destinations = Array.from({ length: destinationCount }, (_, i) => {
  const suffix = i === 0 ? '' : `-${String.fromCharCode(97 + i)}`;
  return { id: `cloud${suffix}`, prefix: `edge-agent${suffix}` };
});

interface Phase {
  /** Per reading taken. */
  bytesPerReading: number;
  bytesPerSecond: number;
  readingsPerSecond: number;
  reportedPerSecond: number;
  seconds: number;
  fsyncsPerSecond: number | null;
}
interface Run {
  up: Phase;
  down: Phase;
  produced: number;
  /** Readings handed to the outbox (the sensors' `reported`): with REPORT, what must arrive. */
  reported: number;
  /** Per destination, in the order of `destinations`. */
  missing: number[];
  /** With REPORT: readings received beyond a sensor's `reported`, per destination. */
  extra: number[];
  duplicates: number[];
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const writeBytes = (pid: number) => Number(/^write_bytes:\s*(\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
const readingsOf = (s: StatusSnapshot) => Object.values(s.sensors).reduce((sum, sensor) => sum + sensor.readings, 0);
const reportedOf = (s: StatusSnapshot) => Object.values(s.sensors).reduce((sum, sensor) => sum + sensor.reported, 0);

/** Everything one run started, stopped in reverse order, each stop on its own so one failure hides nothing. */
class RunResources {
  dir = mkdtempSync(join(tmpdir(), 'edge-agent-flash-'));
  broker?: Mosquitto;
  subscriber?: MqttClient;
  agent?: ChildProcess;
  strace?: ChildProcess;
  async release() {
    const steps: (() => Promise<unknown>)[] = [
      () => stopChild(this.strace, 'SIGINT'),
      () => stopChild(this.agent, 'SIGTERM'),
      async () => this.subscriber?.endAsync(true),
      async () => this.broker?.cleanup(),
      () => Promise.resolve().then(() => rmSync(this.dir, { recursive: true, force: true })),
    ];
    for (const step of steps) await step().catch((error: unknown) => process.stderr.write(`flash-wear: cleanup: ${String(error)}\n`));
  }
}

async function stopChild(child: ChildProcess | undefined, signal: NodeJS.Signals) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((done) => child.once('exit', done));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(timer);
}

/** fsync + fdatasync calls of every thread of `pid` over `seconds`, as strace -c counts them. */
async function countFsyncs(res: RunResources, pid: number, seconds: number): Promise<number> {
  const strace = spawn('strace', ['-f', '-c', '-e', 'trace=fsync,fdatasync', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  res.strace = strace;
  let stderr = '';
  strace.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise((done) => strace.once('exit', done));
  const attachBy = Date.now() + 10_000;
  while (!/attached/.test(stderr)) {
    if (strace.exitCode !== null || Date.now() > attachBy) throw new Error(`strace did not attach: ${stderr}`);
    await sleep(20);
  }
  const start = performance.now();
  await sleep(seconds * 1000);
  strace.kill('SIGINT');
  await exited;
  res.strace = undefined;
  const elapsed = (performance.now() - start) / 1000;
  // Summary rows: "% time  seconds  usecs/call  calls  [errors]  syscall"; calls is the fourth column.
  let calls = 0;
  for (const line of stderr.split('\n')) {
    const columns = line.trim().split(/\s+/);
    if (columns.length >= 5 && /^(fsync|fdatasync)$/.test(columns.at(-1)!)) calls += Number(columns[3]);
  }
  return calls / elapsed;
}

async function runOnce(res: RunResources): Promise<Run> {
  const dataDir = join(res.dir, 'data');
  const fsType = statfsSync(res.dir).type;
  if (fsType === 0x01021994) process.stderr.write(`flash-wear: ${res.dir} is on tmpfs: write_bytes will be 0; set TMPDIR to a directory on a disk\n`);
  const port = await freePort();
  // Persistence keeps the subscriber's session (and what is queued for it) across the outage.
  res.broker = await startMosquitto({ port, persistence: true, configLines: ['allow_anonymous true', 'set_tcp_nodelay true'] });
  // Per destination (by its topics), per sensor: the seqs received (every reading), or with REPORT the records' ids (a window's aggregate has no seq).
  const received = destinations.map(() => new Map<string, Set<number | string>>());
  const duplicates = destinations.map(() => 0);
  res.subscriber = await mqtt.connectAsync(res.broker.url, { clientId: `flash-wear-${process.pid}`, clean: false, reconnectPeriod: 200 });
  res.subscriber.on('message', (topic, payload) => {
    const d = destinations.findIndex(({ prefix }) => topic.startsWith(`${prefix}/`));
    if (d < 0) throw new Error(`flash-wear: a message on ${topic}, no destination's topic`);
    for (const item of JSON.parse(payload.toString('utf8')) as { id: string; sensor: string; values: { seq: number } }[]) {
      let keys = received[d]!.get(item.sensor);
      if (!keys) received[d]!.set(item.sensor, (keys = new Set()));
      const key = report ? item.id : item.values.seq;
      if (keys.has(key)) duplicates[d]!++;
      keys.add(key);
    }
  });
  for (const { prefix } of destinations) await res.subscriber.subscribeAsync(`${prefix}/+/telemetry/#`, { qos: 1 });

  const configPath = join(res.dir, 'agent.config.json');
  writeFileSync(
    configPath,
    JSON.stringify({
      version: 1,
      // warn: the `connected` event (info) is not logged; the link state is read from the status socket instead.
      agent: { id: 'flash-bench', dataDir, logLevel: 'warn' },
      ...(several
        ? {
            clouds: destinations.map(({ id, prefix }) => ({
              id,
              provider: 'mqtt',
              url: res.broker!.url,
              clientId: `flash-bench-${id}`,
              topics: { telemetry: `${prefix}/{agentId}/telemetry/{sensorId}`, commands: `${prefix}/{agentId}/commands`, replies: `${prefix}/{agentId}/replies`, compact: `${prefix}/{agentId}/compact` },
            })),
          }
        : { cloud: { provider: 'mqtt', url: res.broker.url } }),
      sensors: Array.from({ length: SENSORS }, (_, i) => ({ id: `sensor-${String(i + 1).padStart(2, '0')}`, type: 'simulated', interval: '1s', ...(report ? { report } : {}) })),
      health: { http: { enabled: false } },
    }),
  );
  const [command, args] = binary ? [binary, ['run', '--config', configPath]] : [process.execPath, [CLI, 'run', '--config', configPath]];
  const agent = spawn(command, args, { cwd: res.dir, stdio: ['ignore', 'pipe', 'pipe'] });
  res.agent = agent;
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString()).slice(-4000));
  agent.stdout.on('data', keep);
  agent.stderr.on('data', keep);
  const pid = agent.pid!;
  const socket = statusSocketPath(dataDir);
  const status = async () => {
    if (agent.exitCode !== null || agent.signalCode !== null) throw new Error(`the agent exited (${agent.exitCode ?? agent.signalCode}): ${output}`);
    return fetchStatus(socket);
  };
  const waitForLink = async (up: boolean, timeoutMs: number) => {
    const by = Date.now() + timeoutMs;
    for (;;) {
      const s = await status().catch((error: Error) => (/exited/.test(error.message) ? Promise.reject(error) : undefined));
      // Several destinations: up when every one is connected, down when none is.
      const states = s ? (several ? destinations.map(({ id }) => s.destinations?.[id]?.state) : [s.link.state]) : [];
      if (s && states.every((state) => (state === 'connected') === up)) return s;
      if (Date.now() > by) throw new Error(`the link${several ? 's' : ''} did not go ${up ? 'up' : 'down'} within ${timeoutMs} ms (${states.join(', ')}): ${output}`);
      await sleep(100);
    }
  };
  const measure = async (seconds = windowSeconds): Promise<Phase> => {
    const before = await status();
    const bytesBefore = writeBytes(pid);
    const start = performance.now();
    await sleep(seconds * 1000);
    const after = await status();
    const bytesAfter = writeBytes(pid);
    const elapsed = (performance.now() - start) / 1000;
    const readings = readingsOf(after) - readingsOf(before);
    const reported = reportedOf(after) - reportedOf(before);
    const fsyncsPerSecond = haveStrace ? await countFsyncs(res, pid, fsyncWindowSeconds) : null;
    const bytes = bytesAfter - bytesBefore;
    return { bytesPerReading: bytes / readings, bytesPerSecond: bytes / elapsed, readingsPerSecond: readings / elapsed, reportedPerSecond: reported / elapsed, seconds: elapsed, fsyncsPerSecond };
  };

  const connected = await waitForLink(true, 30_000);
  const modes = new Set<string>(Object.values(connected.sensors).map((sensor) => sensor.report));
  if (modes.size !== 1 || !modes.has(reportMode)) throw new Error(`the sensors report in mode ${[...modes].join(', ')}, not ${reportMode}`);
  process.stderr.write(`flash-wear: agent ${pid} connected; link up: ${warmupSeconds} s warm-up, ${windowSeconds} s bytes window${haveStrace ? `, ${fsyncWindowSeconds} s strace window` : ''}\n`);
  await sleep(warmupSeconds * 1000);
  const up = await measure();

  await res.broker.stop();
  await waitForLink(false, 30_000);
  process.stderr.write(`flash-wear: broker stopped; link down: ${settleDownSeconds} s settle, then the same windows\n`);
  await sleep(settleDownSeconds * 1000);
  const down = await measure(downWindowSeconds);

  await res.broker.start();
  await waitForLink(true, 60_000);
  process.stderr.write('flash-wear: broker back; waiting for the backlog to drain\n');
  const drainBy = Date.now() + 120_000;
  let s = await status();
  const inFlight = (snapshot: StatusSnapshot) => (several ? destinations.reduce((sum, { id }) => sum + (snapshot.destinations?.[id]?.inFlight ?? 0), 0) : snapshot.link.inFlight);
  // outbox.pending: with several destinations, the largest of theirs.
  while ((s.outbox.pending > 0 || inFlight(s) > 0) && Date.now() < drainBy) {
    await sleep(200);
    s = await status();
  }
  // Every reading produced up to now must reach the subscriber on each destination's topics: seq
  // 1..readings of each sensor. With REPORT, the readings received of each sensor must number its
  // `reported` (the others never left the agent); the sensors keep reporting, so that is compared
  // with a fresh status until it holds.
  let missing = destinations.map(() => 0);
  let extra = destinations.map(() => 0);
  const missingNow = async () => {
    missing = destinations.map(() => 0);
    extra = destinations.map(() => 0);
    if (report) s = await status();
    for (const [d, got] of received.entries()) {
      for (const [id, sensor] of Object.entries(s.sensors)) {
        if (report) {
          const count = got.get(id)?.size ?? 0;
          missing[d]! += Math.max(0, sensor.reported - count);
          extra[d]! += Math.max(0, count - sensor.reported);
          continue;
        }
        const seqs = got.get(id);
        for (let seq = 1; seq <= sensor.readings; seq++) if (!seqs?.has(seq)) missing[d]!++;
      }
    }
    return missing.reduce((a, b) => a + b, 0) + extra.reduce((a, b) => a + b, 0);
  };
  const deliverBy = Date.now() + 30_000;
  let mismatch = await missingNow();
  while (mismatch > 0 && Date.now() < deliverBy) {
    await sleep(200);
    mismatch = await missingNow();
  }
  for (const [d, { id }] of destinations.entries()) if (extra[d]! > 0) process.stderr.write(`flash-wear: ${extra[d]} more readings arrived${several ? ` at ${id}` : ''} than the sensors reported\n`);
  return { up, down, produced: readingsOf(s), reported: reportedOf(s), missing, extra, duplicates };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const gbPerYear = (bytesPerReading: number, rate: number) => (bytesPerReading * rate * SECONDS_PER_YEAR) / 1e9;
const spread = (values: number[], digits: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  return sorted.length === 1 ? fmt(median, digits) : `${fmt(median, digits)} (${fmt(sorted[0]!, digits)}–${fmt(sorted.at(-1)!, digits)} over ${sorted.length} runs)`;
};

const results: Run[] = [];
let current: RunResources | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void (current?.release() ?? Promise.resolve()).finally(() => process.exit(130)));
}
for (let i = 0; i < runs; i++) {
  current = new RunResources();
  try {
    results.push(await runOnce(current));
  } finally {
    await current.release();
    current = undefined;
  }
  const r = results.at(-1)!;
  const rates = report ? ` (readings/s taken → reported: up ${fmt(r.up.readingsPerSecond, 2)} → ${fmt(r.up.reportedPerSecond, 2)}, down ${fmt(r.down.readingsPerSecond, 2)} → ${fmt(r.down.reportedPerSecond, 2)})` : '';
  process.stderr.write(`flash-wear: run ${i + 1}/${runs}: up ${fmt(r.up.bytesPerReading, 1)} B/reading, down ${fmt(r.down.bytesPerReading, 1)} B/reading${rates}\n`);
}

const destinationLabel = `${destinationCount} destination${several ? 's' : ''}`;
const pct = (part: number, whole: number) => `${fmt((100 * part) / whole, 1)} %`;
const lines = [
  `flash wear: ${binary ?? 'node src/cli/main.ts'}, ${SENSORS} simulated sensors at 1 Hz${report ? `, report ${JSON.stringify(report)}` : ''}, outbox defaults, ${several ? `${destinationCount} destinations ("clouds": generic MQTT, each its own client id and topics) to one local Mosquitto` : 'generic MQTT to local Mosquitto'}; ${windowSeconds} s window link up, ${downWindowSeconds} s link down`,
];
if (report) {
  // Taken: the sensors' `readings`; reported: their `reported`, what went to the outbox (and so to storage and the wire).
  const phaseLine = (name: string, phase: (r: Run) => Phase) => {
    const taken = results.map((r) => phase(r).readingsPerSecond);
    const reported = results.map((r) => phase(r).reportedPerSecond);
    return `    ${name.padEnd(14)}taken ${spread(taken, 2)}, reported ${spread(reported, 2)}; ratio ${pct(median(reported), median(taken))} reported, ${fmt(median(taken) / median(reported), 1)}× fewer`;
  };
  lines.push(
    `  readings per second (status socket: taken = sensors' readings, reported = handed to the outbox)`,
    phaseLine('link up', (r) => r.up),
    phaseLine('link down', (r) => r.down),
    `  bytes written per second (/proc/<pid>/io write_bytes)`,
    `    link up       ${spread(results.map((r) => r.up.bytesPerSecond), 0)}`,
    `    link down     ${spread(results.map((r) => r.down.bytesPerSecond), 0)}`,
    `  bytes written per taken reading, ${destinationLabel}`,
  );
} else lines.push(`  bytes written per reading, ${destinationLabel} (/proc/<pid>/io write_bytes)`);
lines.push(
  `    link up       ${spread(results.map((r) => r.up.bytesPerReading), 1)}`,
  `    link down     ${spread(results.map((r) => r.down.bytesPerReading), 1)}`,
  haveStrace
    ? `  fsyncs per second (fsync + fdatasync, strace, separate ${fsyncWindowSeconds} s window)\n    link up       ${spread(results.map((r) => r.up.fsyncsPerSecond!), 1)}\n    link down     ${spread(results.map((r) => r.down.fsyncsPerSecond!), 1)}`
    : '  fsyncs: not measured (no strace)',
);
if (!report) lines.push(`  readings per second   up ${spread(results.map((r) => r.up.readingsPerSecond), 2)}, down ${spread(results.map((r) => r.down.readingsPerSecond), 2)}`);
lines.push(
  report
    ? `  projected GB written per year (median bytes per taken reading × rate × 31,536,000 / 1e9; the share reported at another rate differs: a deadband passes fewer of more frequent readings)`
    : `  projected GB written per year (median bytes per reading × rate × 31,536,000 / 1e9)`,
);
for (const rate of [1, 10]) {
  const up = gbPerYear(median(results.map((r) => r.up.bytesPerReading)), rate);
  const down = gbPerYear(median(results.map((r) => r.down.bytesPerReading)), rate);
  lines.push(`    ${String(rate).padStart(2)} ${rate === 1 ? 'reading/s ' : 'readings/s'}   link up ${fmt(up, 2)} GB, link down ${fmt(down, 2)} GB`);
}
for (const [i, r] of results.entries()) {
  const allWell = r.missing.every((m) => m === 0) && r.extra.every((e) => e === 0);
  const to = several ? ` to each of the ${destinationCount} destinations` : '';
  // What went wrong, per destination when there are several.
  const shortfall = (d: number) => {
    const what = report ? `${fmt(r.missing[d]!)} missing${r.extra[d] ? `, ${fmt(r.extra[d])} more arrived than reported` : ''}` : `${fmt(r.missing[d]!)} of ${fmt(r.produced)} readings missing`;
    return several ? `${destinations[d]!.id}: ${what}` : what;
  };
  const shortfalls = destinations.map((_, d) => shortfall(d)).join('; ');
  const delivered = report
    ? allWell
      ? `all ${fmt(r.reported)} reported readings delivered${to} (of ${fmt(r.produced)} taken)`
      : `${fmt(r.reported)} readings reported (of ${fmt(r.produced)} taken): ${shortfalls}`
    : allWell
      ? `all ${fmt(r.produced)} readings delivered${to}`
      : shortfalls;
  const duplicates = r.duplicates.some((n) => n > 0) ? ` (${several ? destinations.map(({ id }, d) => `${id} ${fmt(r.duplicates[d]!)}`).join(', ') : fmt(r.duplicates[0]!)} duplicates)` : '';
  lines.push(`  run ${i + 1}: ${delivered}${duplicates}`);
}
process.stdout.write(`${lines.join('\n')}\n`);
