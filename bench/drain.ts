// Drains a 1,000,000-reading backlog from a real SQLite outbox to a local Mosquitto over loopback,
// through the real session, forwarder and generic adapter. Prints readings/s, messages/s and bytes on
// the wire per reading (counted by a TCP proxy: MQTT framing and acks included).
// The backlog is written by a child process, so the RSS figures are the drain's own, as on a gateway
// that restarts after an outage with a full outbox.
//   [BATCH=1000] [IN_FLIGHT=32] npx node [--max-old-space-size=128 --max-semi-space-size=4] bench/drain.ts [readings]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mqttAdapter } from '../src/cloud/adapters/mqtt.ts';
import { Forwarder } from '../src/cloud/forwarder.ts';
import { CloudSession } from '../src/cloud/session.ts';
import { parseConfigText } from '../src/config/load.ts';
import { createLogger } from '../src/log.ts';
import { openOutbox } from '../src/outbox/sqlite-outbox.ts';
import { startFaultProxy } from '../test/helpers/fault-proxy.ts';
import { startMosquitto } from '../test/helpers/mosquitto.ts';

const total = Number(process.argv[2] ?? 1_000_000);
const batchSize = Number(process.env.BATCH ?? 1000);
const inFlight = Number(process.env.IN_FLIGHT ?? 32);
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-drain-'));
const log = createLogger({ level: 'warn' });
const broker = await startMosquitto();
const proxy = await startFaultProxy(broker.port);
try {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'bench', dataDir: dir }, cloud: { provider: 'mqtt', url: proxy.url, inFlight, batchSize }, outbox: { sync: 'normal' } }));
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
  const start = performance.now();
  forwarder.start();
  while (outbox.stats().pending > 0 || session.status().inFlight > 0) {
    await new Promise((r) => setTimeout(r, 20));
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  const seconds = (performance.now() - start) / 1000;
  const status = session.status();
  forwarder.stop();
  await session.stop();
  outbox.close();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  process.stdout.write(
    [
      `drain: ${fmt(total)} readings, backlog filled in ${(fillMs / 1000).toFixed(1)} s, drained in ${seconds.toFixed(2)} s`,
      `  readings/s        ${fmt(total / seconds)}`,
      `  messages/s        ${fmt(status.publishedMessages / seconds)} (${config.cloud.batchSize} readings per message, ${config.cloud.inFlight} in flight)`,
      `  bytes on wire     ${(proxy.bytesUp / total).toFixed(1)} per reading (${fmt(proxy.bytesUp)} bytes agent -> broker, MQTT framing included)`,
      `  RSS               ${(rssBefore / 1024 / 1024).toFixed(0)} MB with the outbox open before the drain, ${(rssPeak / 1024 / 1024).toFixed(0)} MB peak while draining`,
      '',
    ].join('\n'),
  );
} finally {
  await proxy.close();
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
