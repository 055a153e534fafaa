// What a DPS registration costs a gateway on a cellular link, and what a restart saves by keeping the
// assignment: the agent's own registration path (the Azure credentials part, as `run` and `register`
// use it) against the DPS and IoT Hub emulators, through a TCP proxy that counts the bytes both ways.
//   registration     time from the first byte to the stored assignment, and bytes up/down, RUNS
//                    times (default 20), each a new gateway of one enrollment group (TLS, SAS from
//                    the derived key, 202, a poll after each retry-after: one more "assigning", then 200 assigned)
//   restart          the same gateway again with its assignment kept: DPS bytes
// retry-after is the emulator's 1 s (DPS typically says 3 s), so the time is mostly that wait; the
// TLS share of the bytes depends on the server's certificate chain (the test CA's one RSA-2048
// certificate here; Azure's chain is larger). Figures only; nothing is asserted.
//   npx node bench/dps-register.ts
import { createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfigText } from '../src/agent-config/load.ts';
import type { AzureConfig } from '../src/cloud/adapters/azure.ts';
import { azureCredentials } from '../src/cloud/adapters/azure/credentials.ts';
import { credentialsContext } from '../src/cloud/credentials/supervised-adapter.ts';
import { createLogger } from '../src/log.ts';
import { startAzureEmulator } from '../test/emulators/azure/azure-emulator.ts';
import { startDpsEmulator } from '../test/emulators/azure/dps-emulator.ts';
import { makeTestPki } from '../test/helpers/test-ca.ts';

const runs = Number(process.env.RUNS ?? 20);
const HUB = 'bench-hub.azure-devices.net';
const SCOPE = '0ne000BE4C';
const GROUP_KEY = Buffer.from('edge-agent bench enrollment group key, 48 bytes.').toString('base64');

const pki = makeTestPki([HUB]);
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-dps-bench-'));
const hub = await startAzureEmulator({ host: HUB, devices: [], tls: pki });
const dps = await startDpsEmulator({ idScope: SCOPE, tls: pki, hub, enrollments: [{ kind: 'group', groupId: 'bench', key: GROUP_KEY }], retryAfterSeconds: 1, assigningPolls: 1 });

// The counting proxy: every byte between the agent and DPS, both ways.
const counted = { up: 0, down: 0 };
const sockets = new Set<Socket>();
const target = new URL(dps.url);
const proxy = createServer((client) => {
  const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
  for (const socket of [client, upstream]) sockets.add(socket);
  client.on('data', (chunk: Buffer) => (counted.up += chunk.length));
  upstream.on('data', (chunk: Buffer) => (counted.down += chunk.length));
  client.pipe(upstream).pipe(client);
  const close = () => (client.destroy(), upstream.destroy());
  client.on('error', close).on('close', close);
  upstream.on('error', close).on('close', close);
});
await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
const endpoint = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;

const configOf = (agentId: string): AzureConfig => {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: agentId }, cloud: { provider: 'azure', provisioning: { idScope: SCOPE, groupKey: GROUP_KEY, endpoint }, url: hub.url, tls: { ca: pki.caPath } } }));
  return config.cloud as AzureConfig;
};
const contextOf = (agentId: string) => credentialsContext({ agentId, agentVersion: 'bench', dataDir: mkdtempSync(join(dir, 'd-')), log: createLogger({ level: 'silent' }), now: () => Date.now(), clockSynchronized: () => true });

const spread = (values: number[], unit: (n: number) => string) => {
  const sorted = [...values].sort((a, b) => a - b);
  return `${unit(sorted[Math.floor(sorted.length / 2)]!)} (${unit(sorted[0]!)}–${unit(sorted.at(-1)!)})`;
};
const ms = (n: number) => `${n.toFixed(0)} ms`;
const bytes = (n: number) => `${(n / 1024).toFixed(1)} KB`;

try {
  const times: number[] = [];
  const ups: number[] = [];
  const downs: number[] = [];
  let last: { id: string; ctx: ReturnType<typeof contextOf> } | undefined;
  for (let i = 0; i < runs; i++) {
    const id = `bench-${i}`;
    const ctx = contextOf(id);
    counted.up = counted.down = 0;
    const started = performance.now();
    const identity = await azureCredentials.register(configOf(id), ctx);
    times.push(performance.now() - started);
    ups.push(counted.up);
    downs.push(counted.down);
    if (identity.key !== createHmac('sha256', Buffer.from(GROUP_KEY, 'base64')).update(id).digest('base64')) throw new Error('unexpected device key');
    last = { id, ctx };
  }
  counted.up = counted.down = 0;
  const kept = await azureCredentials.resolve(configOf(last!.id), last!.ctx);
  if (kept?.source !== 'stored') throw new Error('the assignment was not kept');

  process.stdout.write(`DPS registration, ${runs} gateways of one enrollment group (emulator retry-after 1 s, two polls)\n`);
  process.stdout.write(`  time          ${spread(times, ms)}\n`);
  process.stdout.write(`  bytes up      ${spread(ups, bytes)}\n`);
  process.stdout.write(`  bytes down    ${spread(downs, bytes)}\n`);
  process.stdout.write(`restart with the assignment kept: ${counted.up + counted.down} bytes to DPS\n`);
  process.stdout.write(`violations: ${JSON.stringify(dps.violations)}\n`);
} finally {
  for (const socket of sockets) socket.destroy();
  proxy.close();
  await dps.stop();
  await hub.stop();
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
