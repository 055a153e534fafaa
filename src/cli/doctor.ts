// `edge-agent doctor`: what breaks gateways in the field, checked in the order a technician would,
// each with OK/WARN/FAIL and a fix. Exit code 1 when anything failed.
import type { Writable } from 'node:stream';
import { adapterDefinition, cloudLinkWarnings, createAdapter } from '../cloud/adapters/index.ts';
import type { ConnectOptions } from '../cloud/adapter.ts';
import { CredentialsUnavailableError } from '../cloud/errors.ts';
import { linkWarnings } from '../cloud/link-warnings.ts';
import { clockSynchronized } from '../clock.ts';
import { loadConfigFile, type LoadedConfig } from '../agent-config/load.ts';
import { destinationsOf, type CloudConfig } from '../agent-config/schema.ts';
import { destinationDataDir } from '../destination.ts';
import { ConfigError } from '../errors.ts';
import { createLogger } from '../log.ts';
import { fetchStatus, statusSocketPath } from '../status/local-api.ts';
import type { LinkStatus } from '../status/snapshot.ts';
import { AGENT_VERSION } from '../version.ts';
import { doctorExitCode, fail, formatCheck, ok, warn, type CheckResult } from './doctor/check.ts';
import { checkCredentials, checkDns, checkTcp, checkTls, endpointOf, withLinkWarnings, type Endpoint } from './doctor/cloud-checks.ts';
import { checkOutboxFile, checkOutboxOfRunningAgent } from './doctor/outbox-check.ts';
import { checkClock, checkDataDir, checkSerialPort } from './doctor/system-checks.ts';
import { sessionExpiryMs } from '../commands/config.ts';

export interface DoctorOptions {
  out: Writable;
  /** The account the service runs as (install.sh creates it). */
  serviceUser?: string;
}

export async function runDoctor(configPath: string, { out, serviceUser = 'edge-agent' }: DoctorOptions): Promise<number> {
  const results: CheckResult[] = [];
  const report = (result: CheckResult) => {
    results.push(result);
    out.write(`${formatCheck(result)}\n`);
  };

  report(await checkClock());

  let loaded: LoadedConfig;
  try {
    loaded = loadConfigFile(configPath);
    report(ok('config', `${configPath} valid (${loaded.config.sensors.length} sensor(s), ${loaded.config.clouds ? `clouds ${destinationsOf(loaded.config).map((d) => `${d.id} (${d.provider})`).join(', ')}` : `cloud ${loaded.config.cloud.provider}`})`));
  } catch (error) {
    const detail = error instanceof ConfigError ? error.message : (error as Error).message;
    report(fail('config', detail.replaceAll('\n', '\n      '), `edit ${configPath}; check it with: edge-agent check-config --config ${configPath}`));
    return doctorExitCode(results);
  }
  const config = loaded.config;

  report(checkDataDir(config.agent.dataDir));
  for (const sensor of config.sensors) {
    const port = (sensor as { port?: unknown }).port;
    if (typeof port === 'string') report(checkSerialPort(sensor.id, port, serviceUser));
  }

  const running = await fetchStatus(statusSocketPath(config.agent.dataDir), 2000).catch(() => undefined);
  // Each destination is checked on its own, its lines named after it when there are several.
  for (const destination of destinationsOf(config)) {
    const runningLink = config.clouds ? running?.destinations?.[destination.id] : running?.link;
    for (const result of await cloudChecks(loaded, destination, runningLink)) report(config.clouds ? { ...result, name: `${destination.id} ${result.name}` } : result);
  }
  report(running ? checkOutboxOfRunningAgent(running) : checkOutboxFile(config.agent.dataDir));

  const failed = results.filter((r) => r.status === 'FAIL').length;
  const warned = results.filter((r) => r.status === 'WARN').length;
  out.write(`\nedge-agent ${AGENT_VERSION}: ${failed} failed, ${warned} warning(s), ${results.length - failed - warned} ok\n`);
  return doctorExitCode(results);
}

/** DNS, TCP and TLS of an endpoint other than the broker (where the device registers), each line named after it. */
async function reachChecks(name: string, endpoint: Endpoint, options: Pick<ConnectOptions, 'tls'>): Promise<CheckResult[]> {
  const named = (result: CheckResult): CheckResult => ({ ...result, name: `${name} ${result.name}` });
  const dns = named(await checkDns(endpoint));
  if (dns.status === 'FAIL') return [dns];
  const tcp = named(await checkTcp(endpoint));
  if (tcp.status === 'FAIL') return [dns, tcp];
  return [dns, tcp, named(await checkTls(endpoint, options))];
}

async function cloudChecks(loaded: LoadedConfig, cloud: CloudConfig, running: LinkStatus | undefined): Promise<CheckResult[]> {
  const config = loaded.config;
  const results: CheckResult[] = [];
  let options: ConnectOptions;
  try {
    // Where the device registers (Azure DPS) is checked first, layer by layer, as the broker is below.
    const registration = adapterDefinition(cloud).credentials?.registrationEndpoint?.(cloud);
    if (registration) results.push(...(await reachChecks(registration.name, endpointOf(registration.url), registration)));
    // Through the registry, read-only: the cloud's credentials part resolves what is stored, never registers or writes.
    const adapter = createAdapter(cloud, {
      agentId: config.agent.id,
      agentVersion: AGENT_VERSION,
      dataDir: destinationDataDir(config, cloud.id ?? 'cloud'),
      log: createLogger({ level: 'silent' }),
      now: () => Date.now(),
      clockSynchronized: () => clockSynchronized(),
      readOnly: true,
    });
    options = await adapter.connectOptions();
  } catch (error) {
    // Not registered yet is where every gateway starts: the agent registers on its first start.
    // What the config exposes is known already, and check-config says it: so does doctor (issue #16).
    if (error instanceof CredentialsUnavailableError) return [...results, warn('cloud', (error as Error).message, 'nothing to do before the first start; to register now: edge-agent register'), ...withLinkWarnings(undefined, cloudLinkWarnings(cloud))];
    return [...results, fail('cloud', `cannot prepare the connection: ${(error as Error).message}`, 'check the cloud section of the config'), ...withLinkWarnings(undefined, cloudLinkWarnings(cloud))];
  }
  const endpoint = endpointOf(options.url);
  // Judged on the URL the adapter really connects to: Xyte's comes from its registration.
  const unsafe = linkWarnings({ ...adapterDefinition(cloud).linkFacts(cloud), url: options.url });
  const dns = await checkDns(endpoint);
  results.push(dns);
  if (dns.status === 'FAIL') return [...results, ...withLinkWarnings(undefined, unsafe)];
  const tcp = await checkTcp(endpoint);
  results.push(tcp);
  if (tcp.status === 'FAIL') return [...results, ...withLinkWarnings(undefined, unsafe)];
  const tls = endpoint.tls ? await checkTls(endpoint, options) : undefined;
  results.push(...withLinkWarnings(tls, unsafe));
  if (tls?.status === 'FAIL') return results;
  // Most brokers drop the older of two connections with one client id: while the agent is linked,
  // its live connection is the proof, and a test connect would knock it off.
  if (running?.state === 'connected') {
    results.push(ok('credentials', `accepted: the running agent is connected to ${running.endpoint}`));
  } else {
    results.push(await checkCredentials(options, Math.ceil(sessionExpiryMs(config.commands) / 1000)));
    if (running) results.push(warn('link', `the running agent is ${running.state}${running.lastError ? `: ${running.lastError}` : ''}`, 'edge-agent status; journalctl -u edge-agent'));
  }
  return results;
}
