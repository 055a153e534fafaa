// The quick start's first command: the example config's simulated sensor, published through the
// generic MQTT adapter to a broker started right here, with the readings printed as they arrive.
//   npm run demo                   runs until Ctrl-C
//   npm run demo -- --seconds 10   stops by itself (used by the tests)
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Aedes } from 'aedes';
import { parse as parseJsonc } from 'jsonc-parser';
import mqtt from 'mqtt';

const root = resolve(import.meta.dirname, '..');
// --readings N: stop once N readings arrived (tests wait for that, not for a time); --seconds: stop after that long regardless.
const { values: args } = parseArgs({ options: { seconds: { type: 'string' }, readings: { type: 'string' }, config: { type: 'string', default: join(root, 'agent.config.json') } } });

const broker = await Aedes.createBroker();
const server = createServer(broker.handle);
const port = await listen(server, 1883).catch(() => listen(server, 0));

// The example config names 127.0.0.1:1883; if that port is taken, point a copy at ours.
const config = parseJsonc(readFileSync(args.config, 'utf8')) as { agent?: { dataDir?: string; id?: string }; cloud: { url?: string } };
const workDir = join(root, 'data', 'demo');
mkdirSync(workDir, { recursive: true });
config.cloud.url = `mqtt://127.0.0.1:${port}`;
config.agent = { ...config.agent, dataDir: resolve(root, config.agent?.dataDir ?? './data') };
delete (config as { $schema?: string }).$schema;
const configPath = join(workDir, 'agent.config.json');
writeFileSync(configPath, JSON.stringify(config, null, 2));

const subscriber = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'demo-subscriber' });
await subscriber.subscribeAsync('#', { qos: 1 });
let received = 0;
subscriber.on('message', (topic, payload) => {
  let items: unknown;
  try {
    items = JSON.parse(payload.toString('utf8'));
  } catch {
    process.stdout.write(`broker <- ${topic}: ${payload.length} bytes\n`);
    return;
  }
  for (const item of Array.isArray(items) ? items : [items]) {
    const reading = item as { sensor?: string; seq?: number; ts?: number; values?: Record<string, unknown> };
    received++;
    const values = Object.entries(reading.values ?? {})
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('  ');
    process.stdout.write(`broker <- ${topic}  ${reading.sensor ?? '?'}  ${new Date(reading.ts ?? Date.now()).toISOString()}  ${values}\n`);
  }
  if (args.readings && received >= Number(args.readings)) void stop(0);
});

process.stdout.write(`demo: broker on mqtt://127.0.0.1:${port}; agent running ${configPath}; press Ctrl-C to stop\n`);
const agent = spawn(process.execPath, [join(root, 'src/cli/main.ts'), 'run', '--config', configPath], { stdio: ['ignore', 'pipe', 'inherit'] });
// The agent logs JSON lines; show warnings and errors, and the start line, so problems are visible.
let partial = '';
agent.stdout.on('data', (chunk: Buffer) => {
  partial += chunk.toString('utf8');
  const lines = partial.split('\n');
  partial = lines.pop() ?? '';
  for (const line of lines) {
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string; event?: string };
      if (entry.level === 'warn' || entry.level === 'error' || entry.level === 'fatal' || entry.event === 'started' || entry.event === 'connected') process.stdout.write(`agent: ${entry.level} ${entry.msg ?? ''}\n`);
    } catch {
      process.stdout.write(`agent: ${line}\n`);
    }
  }
});

let stopping = false;
const stop = async (code: number) => {
  if (stopping) return;
  stopping = true;
  agent.kill('SIGTERM');
  const agentCode = await new Promise<number | null>((r) => (agent.exitCode !== null ? r(agent.exitCode) : agent.once('exit', r)));
  await subscriber.endAsync();
  await new Promise<void>((r) => broker.close(() => r()));
  server.close();
  process.stdout.write(`demo: ${received} readings arrived at the broker; agent exited with ${agentCode}\n`);
  process.exit(code || (agentCode ?? 1));
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));
agent.once('exit', (code) => {
  if (!stopping) {
    process.stdout.write(`demo: the agent exited unexpectedly (code ${code})\n`);
    void stop(1);
  }
});
if (args.seconds) setTimeout(() => void stop(received > 0 && !args.readings ? 0 : 1), Number(args.seconds) * 1000);

function listen(s: Server, p: number): Promise<number> {
  return new Promise((resolvePort, reject) => {
    s.once('error', reject);
    s.listen(p, '127.0.0.1', () => {
      s.off('error', reject);
      const address = s.address();
      resolvePort(typeof address === 'object' && address ? address.port : p);
    });
  });
}
