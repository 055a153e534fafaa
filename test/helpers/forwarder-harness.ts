// A forwarder over a real outbox file and a real session on a fake clock and a fake MQTT transport:
// the forwarder's flow control (linger, socket backpressure) tested without a broker.
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import { Forwarder } from '../../src/cloud/forwarder.ts';
import { CloudSession } from '../../src/cloud/session.ts';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { captureLog } from './capture-log.ts';
import { FakeClock } from './fake-clock.ts';
import { FakeTransport } from './fake-mqtt.ts';
import { outboxConfig, silentLog, tempDataDir } from './outbox-files.ts';

export function forwarderHarness(t: { after: (fn: () => unknown) => void }, options: { lingerMs: number; batchSize: number }) {
  const clock = new FakeClock();
  const transport = new FakeTransport();
  const { log } = captureLog();
  const dataDir = tempDataDir(t);
  const { config } = parseConfigText(JSON.stringify({ version: 1, agent: { id: 'gw-1', dataDir }, cloud: { provider: 'mqtt', url: 'mqtt://broker.example.com' }, sensors: [] }), 'test.json');
  const adapter = createAdapter(config.cloud, { agentId: 'gw-1', agentVersion: '0', dataDir, log, now: clock.now, clockSynchronized: () => true });
  const session = new CloudSession({ adapter, log, connectTimeoutMs: 30_000, reconnectMaxMs: 60_000, sessionExpiryMs: 600_000, timers: clock, connect: transport.connect, probe: () => Promise.resolve(true) });
  const outbox = openOutbox({ dataDir, agentId: 'gw-1', config: outboxConfig(), log: silentLog(), timers: clock });
  const forwarder = new Forwarder({ outbox, session, adapter, log, inFlight: 16, batchSize: options.batchSize, lingerMs: options.lingerMs, order: 'oldest-first', timers: clock });
  t.after(async () => {
    forwarder.stop();
    await session.stop();
    outbox.close();
  });
  return { clock, transport, session, outbox, forwarder };
}
