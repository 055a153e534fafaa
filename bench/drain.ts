// Drains a 1,000,000-reading backlog from a real SQLite outbox to a local Mosquitto over loopback,
// through the real session, forwarder and generic adapter. Prints readings/s, messages/s and bytes on
// the wire per reading (counted by the broker, $SYS/broker/bytes/received: MQTT framing included; a
// TCP proxy in this process used to count them, and cost the drain a third of its speed).
// The backlog is written by a child process, so the RSS figures are the drain's own, as on a gateway
// that restarts after an outage with a full outbox.
// DESTINATIONS=N (default 1): the backlog drains to N destinations at once ("clouds": each its own
// adapter, session and forwarder, its own progress in the one outbox), all to the one broker as
// distinct clients. The backlog is written as the single destination "cloud" does (fill-backlog.ts):
// the others, not configured then, simply acknowledged nothing. A reading counts as drained when
// every destination has it; each destination's own rate is printed too.
//   [BATCH=1000] [IN_FLIGHT=32] [DESTINATIONS=1] npx node [--max-old-space-size=128 --max-semi-space-size=4] bench/drain.ts [readings]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/agent-config/load.ts';
import { destinationsOf } from '../src/agent-config/schema.ts';
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
const destinationCount = Number(process.env.DESTINATIONS ?? 1);
if (!Number.isInteger(destinationCount) || destinationCount < 1 || destinationCount > 8) throw new Error(`DESTINATIONS: expected 1 to 8, found ${process.env.DESTINATIONS}`);
const several = destinationCount > 1;
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
  const cloud = { provider: 'mqtt', url: broker.url, inFlight, batchSize };
  // Several: "cloud" (what the backlog was written for), then "cloud-b", ...; one broker, so each its own client id.
  const clouds = several ? Array.from({ length: destinationCount }, (_, i) => ({ id: i === 0 ? 'cloud' : `cloud-${String.fromCharCode(97 + i)}`, ...cloud, clientId: `bench-${i + 1}` })) : undefined;
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'bench', dataDir: dir }, ...(clouds ? { clouds } : { cloud }), outbox: { sync: 'normal' } }));
  const fillStart = performance.now();
  execFileSync(process.execPath, [join(import.meta.dirname, 'fill-backlog.ts'), dir, String(total)], { stdio: 'inherit' });
  const fillMs = performance.now() - fillStart;
  const destinations = destinationsOf(config);
  const outbox = openOutbox({ dataDir: dir, agentId: 'bench', config: config.outbox, log, ...(several ? { destinations: destinations.map(({ id }) => ({ id })) } : {}) });
  const rssBefore = process.memoryUsage().rss;
  let rssPeak = rssBefore;
  const links = destinations.map((destination) => {
    if (destination.provider !== 'mqtt') throw new Error('expected the mqtt provider');
    const adapter = mqttAdapter.create(destination, { agentId: 'bench', agentVersion: 'bench', dataDir: dir, log, now: Date.now, clockSynchronized: () => true });
    const session = new CloudSession({ adapter, log, connectTimeoutMs: 10_000, reconnectMaxMs: 5000 });
    const forwarder = new Forwarder({ outbox, ...(several ? { destination: destination.id } : {}), session, adapter, log, inFlight: destination.inFlight, batchSize: destination.batchSize, order: 'oldest-first' });
    return { id: destination.id, session, forwarder, end: undefined as number | undefined };
  });
  const connected = links.map(({ session }) => new Promise<void>((resolve) => session.once('connected', resolve)));
  for (const { session } of links) session.start();
  await Promise.all(connected);
  const bytesBefore = await receivedSince(performance.now());
  const start = performance.now();
  const cpuBefore = process.cpuUsage();
  for (const { forwarder } of links) forwarder.start();
  for (;;) {
    const stats = outbox.stats();
    for (const link of links) {
      const pending = several ? stats.destinations![link.id]!.pending : stats.pending;
      if (link.end === undefined && pending === 0 && link.session.status().inFlight === 0) link.end = performance.now();
    }
    if (links.every((link) => link.end !== undefined)) break;
    await new Promise((r) => setTimeout(r, 20));
    rssPeak = Math.max(rssPeak, process.memoryUsage().rss);
  }
  const end = performance.now();
  const cpu = process.cpuUsage(cpuBefore);
  const seconds = (end - start) / 1000;
  const statuses = links.map(({ session }) => session.status());
  const publishedMessages = statuses.reduce((sum, status) => sum + status.publishedMessages, 0);
  const published = links.map(({ forwarder }) => forwarder.stats().publishedReadings);
  const bytesUp = (await receivedSince(end)) - bytesBefore;
  for (const { forwarder } of links) forwarder.stop();
  for (const { session } of links) await session.stop();
  outbox.close();
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const lines = several
    ? [
        `drain: ${fmt(total)} readings to ${destinationCount} destinations (one outbox, one broker, ${destinationCount} clients), backlog filled in ${(fillMs / 1000).toFixed(1)} s, drained to all in ${seconds.toFixed(2)} s`,
        `  readings/s        ${fmt(total / seconds)} (a reading counted when every destination has it)`,
        ...links.map((link, i) => `    ${link.id.padEnd(16)}${fmt(total / ((link.end! - start) / 1000))} readings/s, done in ${((link.end! - start) / 1000).toFixed(2)} s, ${fmt(published[i]!)} readings published`),
        `  deliveries/s      ${fmt((total * destinationCount) / seconds)} (readings × destinations)`,
        `  CPU per reading   ${((cpu.user + cpu.system) / total).toFixed(2)} µs (user ${(cpu.user / total).toFixed(2)}, system ${(cpu.system / total).toFixed(2)}; ${((cpu.user + cpu.system) / total / destinationCount).toFixed(2)} per delivery; this process, all threads)`,
        `  messages/s        ${fmt(publishedMessages / seconds)} (all destinations; ${config.cloud.batchSize} readings per message, ${config.cloud.inFlight} in flight per destination)`,
        `  bytes on wire     ${(bytesUp / total).toFixed(1)} per reading (${(bytesUp / total / destinationCount).toFixed(1)} per delivery; ${fmt(bytesUp)} bytes agent -> broker, MQTT framing included, counted by the broker)`,
      ]
    : [
        `drain: ${fmt(total)} readings, backlog filled in ${(fillMs / 1000).toFixed(1)} s, drained in ${seconds.toFixed(2)} s`,
        `  readings/s        ${fmt(total / seconds)}`,
        `  CPU per reading   ${((cpu.user + cpu.system) / total).toFixed(2)} µs (user ${(cpu.user / total).toFixed(2)}, system ${(cpu.system / total).toFixed(2)}; this process, all threads)`,
        `  messages/s        ${fmt(publishedMessages / seconds)} (${config.cloud.batchSize} readings per message, ${config.cloud.inFlight} in flight)`,
        `  bytes on wire     ${(bytesUp / total).toFixed(1)} per reading (${fmt(bytesUp)} bytes agent -> broker, MQTT framing included, counted by the broker)`,
      ];
  lines.push(`  RSS               ${(rssBefore / 1024 / 1024).toFixed(0)} MB with the outbox open before the drain, ${(rssPeak / 1024 / 1024).toFixed(0)} MB peak while draining`, '');
  process.stdout.write(lines.join('\n'));
  const short = links.filter((_, i) => published[i]! < total);
  if (short.length > 0) {
    process.stderr.write(`drain: ${short.map((link) => `${link.id} published ${fmt(published[links.indexOf(link)]!)}`).join(', ')} of ${fmt(total)} readings\n`);
    process.exitCode = 1;
  }
} finally {
  await sys.endAsync(true);
  await broker.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
