// Bytes and messages on the wire per reading, for each cloud format: generic MQTT with "encoding"
// "json" and "compact", Azure IoT Hub, Alibaba Cloud IoT, Waylay and Xyte. Figures only; nothing is asserted.
//   npx node bench/wire.ts [formats...]      formats: mqtt-json mqtt-compact azure alibaba waylay xyte (default: all six)
//   LIVE_WINDOW=30 (s)  WARMUP=10 (s)  DRAIN_READINGS=100000  DRAIN_TIMEOUT=<s> (default 120 + readings / 500)
//   REPORT=<json> (default: none, every reading): the `report` section given to each of the 10 LIVE
//   sensors (the DRAIN sensor reports every reading), e.g. REPORT='{"mode":"window","every":"10s"}'.
//   REPORT=change is short for {"mode":"change","deadband":0.2,"fields":{"seq":{"ignore":true},"humidity":{"deadband":1}}}:
//   seq is a counter (every reading would differ), humidity's noise is ±0.5 %RH. With REPORT the live
//   figures are per reading taken, and a second table gives readings taken and reported per second,
//   bytes and messages per second; the reported readings are few, so take a longer LIVE_WINDOW (120).
//   Only the generic MQTT live case, quickly: REPORT=change LIVE_WINDOW=120 DRAIN_READINGS=1000 npx node bench/wire.ts mqtt-json
//
// The real agent runs as a child process (node src/cli/main.ts run, agent id "gateway-01", health
// telemetry off so that every message holds sensor readings, no health HTTP port), its cloud.url
// pointed at a counting TCP proxy in this process that forwards to the broker or emulator the
// integration tests use for that cloud, with the same setup: Mosquitto for generic MQTT, the IoT Hub
// emulator over TLS (test CA, SAS from the device key), the Alibaba emulator over TLS (the default
// transport), the Waylay emulator over TLS ("resources" topics, the default), the Xyte emulator
// (HTTPS registration, then MQTT 5 to its Mosquitto, plain TCP as in the tests).
// Bytes: what the agent sent to the broker on the TCP connection (the proxy's bytesRead on the
// agent's side): MQTT framing included, and for the TLS rows also TLS records and the handshake.
// Messages: telemetry messages as the broker sees them: an MQTT subscriber on the telemetry topics
// for generic MQTT, the emulators' own lists otherwise (Alibaba: a batch post is one message).
// LIVE: 10 simulated sensors at 1 Hz with every cloud default (cloud.linger above all); after the
// link is up and a warm-up, a window of whole seconds over which bytes, messages and the sensors'
// readings (the status socket, summed over sensors) are taken at both edges. Both edges fall half-way
// between the sensors' ticks, so neither splits a tick's readings from the message that carries them.
// DRAIN: a fresh agent whose one sensor produces the backlog fast (100 readings every 10 ms) while
// nothing listens on the proxy's port (connections refused: the link is down); once the status shows
// every reading pending in the outbox the proxy starts listening, and bytes and messages are counted
// until the outbox is empty and nothing is in flight. readings/s runs from the agent's first bytes on
// the link (TLS ClientHello or MQTT CONNECT; its bare TCP reachability probes carry none) to the last
// bytes the broker sent before the status (polled every 25 ms) showed that; the wait for the agent's
// probe and spread after the link opens is left out, and reconnectMax is 2s.
// The broker or emulator, the proxy and the agent share this machine's CPUs: compare the rows, not
// the absolute rates (bench/drain.ts measures the drain alone).
// Progress goes to stderr; the table to stdout at the end.
import { connect, createServer, type Socket } from 'node:net';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import mqtt from 'mqtt';
import { reportFromEnv } from './report-env.ts';
import { fetchStatus, statusSocketPath } from '../src/status/local-api.ts';
import type { StatusSnapshot } from '../src/status/snapshot.ts';
import { startAlibabaEmulator } from '../test/emulators/alibaba/alibaba-emulator.ts';
import { startAzureEmulator } from '../test/emulators/azure/azure-emulator.ts';
import { startWaylayEmulator } from '../test/emulators/waylay/waylay-emulator.ts';
import { startXyteEmulator } from '../test/emulators/xyte/xyte-emulator.ts';
import { startAgent, type AgentProcess } from '../test/helpers/agent-process.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';
import { freePort } from '../test/helpers/free-port.ts';
import { makeTestPki } from '../test/helpers/test-ca.ts';
import { waitUntil } from '../test/helpers/wait.ts';

const FORMATS = ['mqtt-json', 'mqtt-compact', 'azure', 'alibaba', 'waylay', 'xyte'] as const;
type Format = (typeof FORMATS)[number];
const isFormat = (name: string): name is Format => (FORMATS as readonly string[]).includes(name);
const requested = process.argv.slice(2);
const unknownFormats = requested.filter((name) => !isFormat(name));
if (unknownFormats.length > 0) {
  process.stderr.write(`wire: unknown format ${unknownFormats.join(', ')}; expected some of ${FORMATS.join(' ')}\n`);
  process.exit(2);
}
const formats = requested.length > 0 ? FORMATS.filter((f) => requested.includes(f)) : [...FORMATS];

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(value) || value <= 0) {
    process.stderr.write(`wire: ${name} must be a positive number\n`);
    process.exit(2);
  }
  return value;
};
const warmupSeconds = envNumber('WARMUP', 10);
const windowSeconds = Math.max(1, Math.round(envNumber('LIVE_WINDOW', 30)));
const drainReadings = Math.round(envNumber('DRAIN_READINGS', 100_000));
const drainTimeoutSeconds = envNumber('DRAIN_TIMEOUT', 120 + drainReadings / 500);
const report = reportFromEnv('wire');
const reportMode: string = report ? ((report.mode as string | undefined) ?? 'every') : 'every';
const AGENT_ID = 'gateway-01';
const LIVE_SENSORS = Array.from({ length: 10 }, (_, i) => ({ id: `sensor-${String(i + 1).padStart(2, '0')}`, type: 'simulated', interval: '1s', ...(report ? { report } : {}) }));
const DRAIN_SENSOR = { id: 'load', type: 'simulated', interval: '10ms', perTick: 100, count: drainReadings };
const SECONDS_PER_DAY = 86_400;

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const progress = (text: string) => process.stderr.write(`wire: ${text}\n`);
const readingsOf = (s: StatusSnapshot) => Object.values(s.sensors).reduce((sum, sensor) => sum + sensor.readings, 0);
const reportedOf = (s: StatusSnapshot) => Object.values(s.sensors).reduce((sum, sensor) => sum + sensor.reported, 0);

/** Everything one format started, released in reverse order, each step on its own so one failure hides nothing. */
class Resources {
  private steps: { what: string; run: () => Promise<unknown> }[] = [];
  add(what: string, run: () => Promise<unknown>) {
    this.steps.push({ what, run });
  }
  async release() {
    for (let step = this.steps.pop(); step; step = this.steps.pop()) {
      await step.run().catch((error: unknown) => process.stderr.write(`wire: cleanup of ${step.what}: ${String(error)}\n`));
    }
  }
}

// ---- the counting proxy ------------------------------------------------------------------------

interface CountingProxy {
  url(scheme: string): string;
  /** Starts listening; until then a connection to its port is refused (the link is down). */
  open(): Promise<void>;
  /** performance.now() of the first bytes from the agent. */
  firstUpAt: number | undefined;
  /** performance.now() of the last bytes from the broker to the agent. */
  lastDownAt: number | undefined;
  /** Bytes read from the agent so far, on every connection let through. */
  bytesUp(): number;
  close(): Promise<void>;
}

async function startProxy(res: Resources, targetPort: number, listening: boolean): Promise<CountingProxy> {
  const open = new Set<Socket>();
  let closedBytes = 0;
  const server = createServer({ noDelay: true }, (agentSide) => {
    const brokerSide = connect({ port: targetPort, host: '127.0.0.1', noDelay: true });
    open.add(agentSide);
    agentSide.once('close', () => {
      if (open.delete(agentSide)) closedBytes += agentSide.bytesRead;
      brokerSide.destroy();
    });
    brokerSide.once('close', () => agentSide.destroy());
    agentSide.on('error', () => brokerSide.destroy());
    brokerSide.on('error', () => agentSide.destroy());
    agentSide.pipe(brokerSide);
    brokerSide.pipe(agentSide);
    agentSide.once('data', () => (proxy.firstUpAt ??= performance.now()));
    brokerSide.on('data', () => (proxy.lastDownAt = performance.now()));
  });
  const port = await freePort();
  let closed: Promise<void> | undefined;
  const proxy: CountingProxy = {
    url: (scheme) => `${scheme}://127.0.0.1:${port}`,
    open: () =>
      new Promise<void>((resolve, reject) => {
        server.once('error', (error) => reject(new Error(`the proxy could not listen on 127.0.0.1:${port}: ${error.message}`)));
        server.listen(port, '127.0.0.1', () => resolve());
      }),
    firstUpAt: undefined,
    lastDownAt: undefined,
    bytesUp: () => [...open].reduce((sum, socket) => sum + socket.bytesRead, closedBytes),
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        if (server.listening) server.close(() => resolve());
        else resolve();
      })),
  };
  res.add(`the proxy on port ${port}`, () => proxy.close());
  if (listening) await proxy.open();
  return proxy;
}

// ---- the agent -----------------------------------------------------------------------------------

const exitedOf = (agent: AgentProcess) => agent.child.exitCode ?? agent.child.signalCode;
const hasExited = (agent: AgentProcess) => exitedOf(agent) !== null;
/** The agent's last warnings and errors and its stray output, for an error message. */
const tailOf = (agent: AgentProcess) => {
  const lines = agent.logs.filter((l) => l.level === 'warn' || l.level === 'error' || l.level === 'fatal').slice(-6).map((l) => JSON.stringify(l));
  const stray = agent.stderr.join('').slice(-1500).trim();
  return [...lines, ...(stray ? [`stderr: ${stray}`] : [])].join('\n') || '(no warnings logged)';
};

function launch(res: Resources, cloud: Record<string, unknown>, sensors: Record<string, unknown>[]): AgentProcess {
  const agent = startAgent({ agent: { id: AGENT_ID, logLevel: 'info' }, cloud, sensors, health: { telemetry: false, http: { enabled: false } } });
  res.add(`the agent (pid ${agent.child.pid})`, () => stopAgent(agent));
  return agent;
}

/** SIGTERM, SIGKILL after 10 s, then its temp dir goes. */
async function stopAgent(agent: AgentProcess) {
  if (!hasExited(agent)) {
    agent.signal('SIGTERM');
    await Promise.race([agent.exited, sleep(10_000, undefined, { ref: false })]);
  }
  await agent.cleanup();
}

async function status(agent: AgentProcess): Promise<StatusSnapshot> {
  if (hasExited(agent)) throw new Error(`the agent exited (${exitedOf(agent)}):\n${tailOf(agent)}`);
  return fetchStatus(statusSocketPath(agent.dataDir));
}

/** Polls the status socket until `check` holds; the socket not answering yet (agent starting) is not an error, the agent exiting is. */
async function waitForStatus(agent: AgentProcess, check: (s: StatusSnapshot) => boolean, timeoutMs: number, what: string, pollMs = 100, onPoll?: (s: StatusSnapshot) => void): Promise<StatusSnapshot> {
  let last: StatusSnapshot | undefined;
  const describe = () => {
    if (!last) return `${what} (the status socket never answered):\n${tailOf(agent)}`;
    const { link, outbox } = last;
    return `${what} (link ${link.state}${link.lastError ? `, last error: ${link.lastError}` : ''}; readings ${fmt(readingsOf(last))}, outbox pending ${fmt(outbox.pending)}, in flight ${link.inFlight}):\n${tailOf(agent)}`;
  };
  await waitUntil(
    async () => {
      try {
        last = await status(agent);
      } catch (error) {
        if (hasExited(agent)) throw error;
        return false;
      }
      onPoll?.(last);
      return check(last);
    },
    timeoutMs,
    describe,
    pollMs,
  );
  return last!;
}

// ---- the clouds ----------------------------------------------------------------------------------

interface Cloud {
  /** Port on 127.0.0.1 the proxy forwards to. */
  port: number;
  scheme: 'mqtt' | 'mqtts';
  /** The agent's cloud section, its url pointed at the proxy. The live and the drain agent are two devices where the cloud registers them. */
  config(url: string, role: 'live' | 'drain'): Record<string, unknown>;
  /** Telemetry messages the broker has received so far. */
  messages(): number;
  violations(): unknown[];
  meteredBlocks?(): number;
}

const portOf = (url: string) => Number(new URL(url).port);

async function genericMqtt(res: Resources, encoding: 'json' | 'compact'): Promise<Cloud> {
  // Nagle off, as in bench/drain.ts: Mosquitto's small PUBACKs would otherwise wait on delayed ACKs.
  const broker = await startMosquitto({ configLines: ['allow_anonymous true', 'set_tcp_nodelay true'] });
  res.add('Mosquitto', () => broker.cleanup());
  const subscriber = await mqtt.connectAsync(broker.url, { clientId: `wire-bench-${process.pid}`, reconnectPeriod: 200 });
  res.add('the subscriber', () => subscriber.endAsync(true));
  let messages = 0;
  subscriber.on('message', () => messages++);
  await subscriber.subscribeAsync(['edge-agent/+/telemetry/#', 'edge-agent/+/compact'], { qos: 1 });
  return { port: broker.port, scheme: 'mqtt', config: (url) => ({ provider: 'mqtt', url, encoding }), messages: () => messages, violations: () => [] };
}

const AZURE_HOST = 'testhub.azure-devices.net';
const AZURE_KEY = Buffer.from('edge-agent test device key, 32b!').toString('base64');

async function azure(res: Resources): Promise<Cloud> {
  const pki = makeTestPki([AZURE_HOST]);
  res.add('the test CA', () => Promise.resolve().then(() => pki.cleanup()));
  const hub = await startAzureEmulator({ host: AZURE_HOST, devices: [{ deviceId: 'gw1', key: AZURE_KEY }], tls: pki });
  res.add('the IoT Hub emulator', () => hub.stop());
  return {
    port: portOf(hub.url),
    scheme: 'mqtts',
    config: (url) => ({ provider: 'azure', connectionString: `HostName=${AZURE_HOST};DeviceId=gw1;SharedAccessKey=${AZURE_KEY}`, url, tls: { ca: pki.caPath } }),
    messages: () => hub.telemetry.length,
    violations: () => hub.violations,
    meteredBlocks: () => hub.meteredBlocks(),
  };
}

const ALIBABA_DEVICE = { productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: '0123456789abcdef0123456789abcdef' };

async function alibaba(res: Resources): Promise<Cloud> {
  const pki = makeTestPki();
  res.add('the test CA', () => Promise.resolve().then(() => pki.cleanup()));
  const hub = await startAlibabaEmulator({ transport: 'tls', devices: [ALIBABA_DEVICE], tls: pki });
  res.add('the Alibaba emulator', () => hub.stop());
  return {
    port: portOf(hub.url),
    scheme: 'mqtts',
    config: (url) => ({ provider: 'alibaba', ...ALIBABA_DEVICE, transport: 'tls', url, endpoint: 'iot.example', tls: { ca: pki.caPath } }),
    // The emulator also lists each reading of a batch post in `posts`: a batch is one message.
    messages: () => hub.batches.length + hub.posts.length - hub.batches.reduce((n, b) => n + b.readings.length, 0),
    violations: () => hub.violations,
  };
}

const WAYLAY_DOMAIN = 'app.waylay.io';
const WAYLAY_DEVICE = { resourceId: 'gw-0001', username: 'u-gw-0001', password: 'p-0001-secret' };

async function waylay(res: Resources): Promise<Cloud> {
  const pki = makeTestPki();
  res.add('the test CA', () => Promise.resolve().then(() => pki.cleanup()));
  const emulator = await startWaylayEmulator({ profile: 'resources', domain: WAYLAY_DOMAIN, devices: [WAYLAY_DEVICE], tls: { cert: pki.cert, key: pki.key } });
  res.add('the Waylay emulator', () => emulator.stop());
  return {
    port: emulator.port,
    scheme: 'mqtts',
    config: (url) => ({ provider: 'waylay', url, ...WAYLAY_DEVICE, topics: 'resources', domain: WAYLAY_DOMAIN, tls: { ca: pki.caPath } }),
    messages: () => emulator.events.length,
    violations: () => emulator.violations,
  };
}

const XYTE_HARDWARE_KEY = 'hw-model-7-key';

async function xyte(res: Resources): Promise<Cloud> {
  const pki = makeTestPki();
  res.add('the test CA', () => Promise.resolve().then(() => pki.cleanup()));
  const emulator = await startXyteEmulator({ pki, hardwareKeys: [XYTE_HARDWARE_KEY] });
  res.add('the Xyte emulator', () => emulator.stop());
  // Each agent has a fresh data dir, so it registers: a serial number and MAC of its own (Xyte refuses a repeated one).
  const registration = (role: 'live' | 'drain') => ({
    url: emulator.registrationUrl,
    sn: `SN-WIRE-${role.toUpperCase()}`,
    hardwareKey: XYTE_HARDWARE_KEY,
    mac: role === 'live' ? 'b8:27:eb:00:00:01' : 'b8:27:eb:00:00:02',
    retryMin: '1s',
    retryMax: '2s',
  });
  return {
    port: portOf(emulator.mqttUrl),
    scheme: 'mqtt',
    // cloud.url wins over the mqtt_hub_url the registration answers with.
    config: (url, role) => ({ provider: 'xyte', url, tls: { ca: pki.caPath }, registration: registration(role) }),
    messages: () => emulator.telemetry.length,
    violations: () => emulator.violations,
  };
}

const SETUPS: Record<Format, (res: Resources) => Promise<Cloud>> = {
  'mqtt-json': (res) => genericMqtt(res, 'json'),
  'mqtt-compact': (res) => genericMqtt(res, 'compact'),
  azure,
  alibaba,
  waylay,
  xyte,
};

// ---- the phases ----------------------------------------------------------------------------------

interface LivePhase {
  seconds: number;
  /** Taken by the sensors. */
  readings: number;
  /** Handed to the outbox (all of them without REPORT). */
  reported: number;
  bytes: number;
  messages: number;
  meteredBlocks: number | undefined;
  reconnects: number;
}

async function livePhase(res: Resources, cloud: Cloud, format: Format): Promise<LivePhase> {
  const proxy = await startProxy(res, cloud.port, true);
  const agent = launch(res, cloud.config(proxy.url(cloud.scheme), 'live'), LIVE_SENSORS);
  const connected = await waitForStatus(agent, (s) => s.link.state === 'connected', 60_000, 'the live agent to connect');
  const modes = new Set<string>(Object.values(connected.sensors).map((sensor) => sensor.report));
  if (modes.size !== 1 || !modes.has(reportMode)) throw new Error(`the live sensors report in mode ${[...modes].join(', ')}, not ${reportMode}`);
  progress(`${format}: live: connected; ${warmupSeconds} s warm-up, ${windowSeconds} s window`);
  await sleep(warmupSeconds * 1000);
  // Half-way between two ticks: a tick's readings (and, 50 ms or 1 s of linger later, its message) are away from both edges.
  const readingsNow = readingsOf(await status(agent));
  await waitForStatus(agent, (s) => readingsOf(s) > readingsNow, 5000, 'a sensor tick', 10);
  await sleep(500);
  const edge = async () => {
    const s = await status(agent);
    return { at: performance.now(), status: s, bytes: proxy.bytesUp(), messages: cloud.messages(), blocks: cloud.meteredBlocks?.() };
  };
  const before = await edge();
  await sleep(windowSeconds * 1000);
  const after = await edge();
  await stopAgent(agent);
  await proxy.close();
  const phase = {
    seconds: (after.at - before.at) / 1000,
    readings: readingsOf(after.status) - readingsOf(before.status),
    reported: reportedOf(after.status) - reportedOf(before.status),
    bytes: after.bytes - before.bytes,
    messages: after.messages - before.messages,
    meteredBlocks: after.blocks === undefined || before.blocks === undefined ? undefined : after.blocks - before.blocks,
    reconnects: after.status.link.reconnects - before.status.link.reconnects,
  };
  if (phase.readings <= 0) throw new Error(`no readings in the ${windowSeconds} s live window`);
  progress(`${format}: live: ${fmt(phase.readings)} readings${report ? ` taken, ${fmt(phase.reported)} reported` : ''}, ${fmt(phase.messages)} messages, ${fmt(phase.bytes)} bytes in ${fmt(phase.seconds, 1)} s`);
  return phase;
}

interface DrainPhase {
  readings: number;
  bytes: number;
  messages: number;
  seconds: number;
  /** From the proxy opening to the agent's first bytes. */
  connectDelay: number;
}

async function drainPhase(res: Resources, cloud: Cloud, format: Format): Promise<DrainPhase> {
  const proxy = await startProxy(res, cloud.port, false);
  const agent = launch(res, { ...cloud.config(proxy.url(cloud.scheme), 'drain'), reconnectMax: '2s' }, [DRAIN_SENSOR]);
  progress(`${format}: drain: link down, storing ${fmt(drainReadings)} readings`);
  const stored = await waitForStatus(
    agent,
    (s) => (s.sensors.load?.readings ?? 0) >= drainReadings && s.outbox.pending >= drainReadings,
    60_000 + drainReadings, // a minute, and 1 ms a reading: the sensor makes 10 a ms
    `all ${fmt(drainReadings)} readings pending in the outbox`,
    200,
  );
  if (stored.link.publishedReadings > 0) throw new Error(`${stored.link.publishedReadings} readings were published while the proxy refused connections`);
  const messagesBefore = cloud.messages();
  const opened = performance.now();
  await proxy.open();
  progress(`${format}: drain: ${fmt(stored.outbox.pending)} pending; link open`);
  let lastProgress = opened;
  const drained = await waitForStatus(
    agent,
    (s) => proxy.firstUpAt !== undefined && s.outbox.pending === 0 && s.link.inFlight === 0,
    drainTimeoutSeconds * 1000,
    'the outbox to drain',
    25,
    (s) => {
      if (performance.now() - lastProgress < 5000) return;
      lastProgress = performance.now();
      progress(`${format}: drain: ${fmt(s.outbox.pending)} pending, link ${s.link.state}`);
    },
  );
  // The last PUBACK (or reply) came just before the status said so: within one poll, and the closer end.
  const end = proxy.lastDownAt ?? performance.now();
  const bytes = proxy.bytesUp();
  // The broker has acknowledged everything; a subscriber may still be receiving: count once the number stops moving.
  let count = cloud.messages();
  let movedAt = performance.now();
  await waitUntil(
    () => {
      const now = cloud.messages();
      if (now !== count) [count, movedAt] = [now, performance.now()];
      return performance.now() - movedAt >= 1000;
    },
    60_000,
    () => `the broker's telemetry count to settle (${fmt(count - messagesBefore)} messages so far)`,
    100,
  );
  await stopAgent(agent);
  await proxy.close();
  const firstUpAt = proxy.firstUpAt!;
  const phase = { readings: drained.link.publishedReadings, bytes, messages: count - messagesBefore, seconds: (end - firstUpAt) / 1000, connectDelay: (firstUpAt - opened) / 1000 };
  if (phase.readings !== drainReadings) progress(`${format}: drain: ${fmt(phase.readings)} readings published, not ${fmt(drainReadings)}`);
  progress(`${format}: drain: ${fmt(phase.readings)} readings, ${fmt(phase.messages)} messages, ${fmt(phase.bytes)} bytes in ${fmt(phase.seconds, 2)} s (first bytes ${fmt(phase.connectDelay, 1)} s after the link opened)`);
  return phase;
}

// ---- run -----------------------------------------------------------------------------------------

interface Row {
  format: Format;
  wire: string;
  live?: LivePhase;
  drain?: DrainPhase;
  violations: unknown[];
  error?: string;
}

const rows: Row[] = [];
let current: Resources | undefined;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => void (current?.release() ?? Promise.resolve()).finally(() => process.exit(130)));
}
for (const format of formats) {
  const res = new Resources();
  current = res;
  const row: Row = { format, wire: '', violations: [] };
  rows.push(row);
  try {
    progress(`${format}: starting the broker`);
    const cloud = await SETUPS[format](res);
    row.wire = cloud.scheme === 'mqtts' ? 'tls' : 'tcp';
    row.live = await livePhase(res, cloud, format);
    row.drain = await drainPhase(res, cloud, format);
    row.violations = [...cloud.violations()];
  } catch (error) {
    row.error = (error instanceof Error ? error.message : String(error)).split('\n')[0]!;
    progress(`${format}: not measured: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exitCode = 1;
  } finally {
    await res.release();
    current = undefined;
  }
}

const columns = ['format', 'wire', 'live B/reading', 'live msg/reading', 'drain B/reading', 'drain msg/reading', 'drain readings/s'];
const table: string[][] = rows.map((r) =>
  r.live && r.drain
    ? [
        r.format,
        r.wire,
        fmt(r.live.bytes / r.live.readings, 1),
        fmt(r.live.messages / r.live.readings, 3),
        fmt(r.drain.bytes / r.drain.readings, 1),
        fmt(r.drain.messages / r.drain.readings, 4),
        fmt(r.drain.readings / r.drain.seconds),
      ]
    : [r.format, r.wire || '-', `not measured: ${r.error ?? 'unknown'}`],
);
const widths = columns.map((c, i) => Math.max(c.length, ...table.filter((t) => t.length === columns.length).map((t) => t[i]!.length)));
const line = (cells: string[]) =>
  cells.length === columns.length ? cells.map((cell, i) => (i < 2 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ') : `${cells[0]!.padEnd(widths[0]!)}  ${cells[1]!.padEnd(widths[1]!)}  ${cells[2]}`;
const lines = [
  `wire: bytes and messages per reading, the agent (node src/cli/main.ts, id "${AGENT_ID}") through a counting TCP proxy to each cloud's test broker on loopback`,
  `  bytes: agent -> broker on the TCP connection, MQTT framing included; on "tls" rows TLS records and the handshake too`,
  `  messages: telemetry messages as the broker or emulator received them (an Alibaba batch post is one)`,
  `  live: 10 simulated sensors at 1 Hz, every cloud default (cloud.linger included), health telemetry off; ${warmupSeconds} s warm-up, ${windowSeconds} s window`,
  ...(report ? [`        each sensor with report ${JSON.stringify(report)}: live figures are per reading taken`] : []),
  `  drain: a ${fmt(drainReadings)}-reading backlog of one sensor (100 readings every 10 ms) stored with the link down, then sent;`,
  `         readings/s from the agent's first bytes on the reopened link to an empty outbox, with the broker and the proxy on the same ${cpus().length} CPUs`,
  '',
  line(columns),
  ...table.map(line),
];
if (report) {
  // Taken: the sensors' `readings`; reported: their `reported`, what went to the outbox and so to the wire.
  const reportColumns = ['format', 'taken/s', 'reported/s', 'reported', 'wire B/s', 'msg/s', 'B/taken', 'B/reported'];
  const reportTable = rows
    .filter((r) => r.live)
    .map(({ format, live }) => [
      format,
      fmt(live!.readings / live!.seconds, 2),
      fmt(live!.reported / live!.seconds, 2),
      `${fmt((100 * live!.reported) / live!.readings, 1)} %`,
      fmt(live!.bytes / live!.seconds, 1),
      fmt(live!.messages / live!.seconds, 3),
      fmt(live!.bytes / live!.readings, 1),
      live!.reported > 0 ? fmt(live!.bytes / live!.reported, 1) : '-',
    ]);
  const reportWidths = reportColumns.map((c, i) => Math.max(c.length, ...reportTable.map((t) => t[i]!.length)));
  const reportLine = (cells: string[]) => cells.map((cell, i) => (i === 0 ? cell.padEnd(reportWidths[i]!) : cell.padStart(reportWidths[i]!))).join('  ');
  lines.push(
    '',
    `live with report ${JSON.stringify(report)}: readings taken (the sensors' readings) and reported (handed to the outbox) per second, bytes and messages on the wire per second and per reading`,
    reportLine(reportColumns),
    ...reportTable.map(reportLine),
  );
}
for (const r of rows) {
  if (r.format === 'azure' && r.live) {
    const perSecond = r.live.messages / r.live.seconds;
    const blocksPerDay = r.live.meteredBlocks === undefined ? undefined : (r.live.meteredBlocks / r.live.readings) * 10 * SECONDS_PER_DAY;
    lines.push('', `azure live: ${fmt(perSecond, 2)} messages/s; ${blocksPerDay === undefined ? 'metered blocks not measured' : `${fmt(blocksPerDay)} metered 4 KB blocks per day at 10 readings/s`} (the daily quota counts 4 KB blocks)`);
  }
}
const notes = rows.flatMap((r) => [
  ...(r.live && r.live.reconnects > 0 ? [`${r.format}: the link reconnected ${r.live.reconnects} times in the live window`] : []),
  ...(r.violations.length > 0 ? [`${r.format}: ${r.violations.length} emulator violations, first: ${JSON.stringify(r.violations[0])}`] : []),
]);
if (notes.length > 0) lines.push('', ...notes);
process.stdout.write(`${lines.join('\n')}\n`);
