// Writes a backlog of readings into {dir}/outbox.db through the real outbox, as sensors would while
// the uplink is down. Run as its own process by the benches, so their memory figures are not this.
//   npx node bench/fill-backlog.ts <dir> <readings> [agentId]
import { parseConfigText } from '../src/agent-config/load.ts';
import { createLogger } from '../src/log.ts';
import { openOutbox } from '../src/outbox/sqlite-outbox.ts';

const [dir, count = '1000000', agentId = 'bench'] = process.argv.slice(2);
if (!dir) throw new Error('usage: fill-backlog.ts <dir> <readings> [agentId]');
const { config } = parseConfigText(JSON.stringify({ agent: { id: agentId, dataDir: dir }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, outbox: { sync: 'normal' } }));
const outbox = openOutbox({ dataDir: dir, agentId, config: config.outbox, log: createLogger({ level: 'warn' }) });
const n = Number(count);
for (let seq = 1; seq <= n; seq++) outbox.append({ sensorId: `s${seq % 4}`, ts: Date.now() - n + seq, values: { seq, temperature: 21.5 + (seq % 10) / 10, humidity: 40 + (seq % 7) } });
outbox.flush();
outbox.close();
