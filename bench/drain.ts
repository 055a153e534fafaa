// Drains a 1,000,000-reading backlog from a real SQLite outbox to a local Mosquitto over loopback,
// through the real session, forwarder and generic adapter. Prints readings/s, messages/s and bytes on
// the wire per reading (counted by the broker, $SYS/broker/bytes/received: MQTT framing included; a
// TCP proxy in this process used to count them, and cost the drain a third of its speed).
// The backlog is written by a child process, so the RSS figures are the drain's own, as on a gateway
// that restarts after an outage with a full outbox.
//   [BATCH=1000] [IN_FLIGHT=32] npx node [--max-old-space-size=128 --max-semi-space-size=4] bench/drain.ts [readings]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/agent-config/load.ts';
import { mqttAdapter } from '../src/cloud/adapters/mqtt.ts';
import { Forwarder } from '../src/cloud/forwarder.ts';
import { CloudSession } from '../src/cloud/session.ts';
import { createLogger } from '../src/log.ts';
import { openOutbox } from '../src/outbox/sqlite-outbox.ts';
import mqtt from 'mqtt';
import { startMosquitto } from '../test/helpers/mosquitto.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.env.BATCH ?? 1000);
const inFlight = Number(process.env.IN_FLIGHT ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-drain-'));
const log = createLogger({ level: 'warn' });
// Mosquitto leaves Nagle's algorithm on by default: its small PUBACKs then wait for the agent's delayed
// ACKs (~40 ms each), and a loopback drain measures that (about 45,000 instead of 150,000 readings/s
// with the defaults). A bench of the agent turns it off.
const broker = await startMosquitto({ configLines: ['allow_anonymous true', 'set_tcp_nodelay true', 'sys_interval 1'] });
const sys = await mqtt.connectAsync(broker.url, { clientId: 'bench-sys' });
let bytesReceived = { value: 0, at: 0 };
sys.on('message', (_topic, payload) => (bytesReceived = { value: Number(payload.toString()), at: performance.now() }));
await sys.subscribeAsync('$SYS/broker/bytes/received');
/** The broker's count, published once a second: waits for one taken after `after`. */
const receivedSince = async (after: number) => {
  while (bytesReceived.at <= after) await new Promise((r) => setTimeout(r, 50));
  return bytesReceived.value;
};
try {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'bench', dataDir: dir }, cloud: { provider: 'mqtt', url: broker.url, inFlight, batchSize }, outbox: { sync: 'normal' } }));
  const fillStart = performance.now();
  execFileSync(process.execPath, [join(import.meta.dirname, 'fill-backlog.ts'), dir, String(total)], { stdio: 'inherit' });
  const fillMs = performance.now() - fillStart;
  const outbox = openOutbox({ dataDir: dir, agentId: 'bench', config: config.outbox, log });
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  if (config.cloud.provider !== 'mqtt') throw new Error('expected the mqtt provider');
  const adapter = mqttAdapter.create(config.cloud, { agentId: 'bench', agentVersion: 'bench', dataDir: dir, log, now: Date.now, clockSynchronized: () => true });
  const session = new CloudSession({ adapter, log, connectTimeoutMs: 10_000, reconnectMaxMs: 5000 });
  const forwarder = new Forwarder({ outbox, session, adapter, log, inFlight: config.cloud.inFlight, batchSize: config.cloud.batchSize, order: 'oldest-first' });
  const connected = new Promise<void>((resolve) => session.once('connected', resolve));
  session.start();
  await connected;
  const bytesBefore = await receivedSince(performance.now());
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  forwarder.start();
  while (outbox.stats().pending > 0 || session.status().inFlight > 0) {
    await new Promise((r) => setTimeout(r, 20));
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  const end = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (end - start) / 1000;
  const status = session.status();
  const bytesUp = (await receivedSince(end)) - bytesBefore;
  forwarder.stop();
  await session.stop();
  outbox.close();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  process.stdout.write(
    [
      `drain: ${fmt(total)} readings, backlog filled in ${(fillMs / 1000).toFixed(1)} s, drained in ${seconds.toFixed(2)} s`,
      `  readings/s        ${fmt(total / seconds)}`,
      `  CPU per reading   ${((cpu.user + cpu.system) / total).toFixed(2)} µs (user ${(cpu.user / total).toFixed(2)}, system ${(cpu.system / total).toFixed(2)}; this process, all threads)`,
      `  messages/s        ${fmt(status.publishedMessages / seconds)} (${config.cloud.batchSize} readings per message, ${config.cloud.inFlight} in flight)`,
      `  bytes on wire     ${(bytesUp / total).toFixed(1)} per reading (${fmt(bytesUp)} bytes agent -> broker, MQTT framing included, counted by the broker)`,
      `  RSS               ${(rssBefore / 1024 / 1024).toFixed(0)} MB with the outbox open before the drain, ${(rssPeak / 1024 / 1024).toFixed(0)} MB peak while draining`,
      '',
    ].join('\n'),
  );
} finally {
  await sys.endAsync(true);
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
