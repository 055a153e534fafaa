// `edge-agent register`: only the registration step of a cloud whose devices register themselves
// (its adapter definition has a credentials part: Xyte, Alibaba "one secret per product", Azure
// through DPS), so an installer can register a gateway on the bench and see its device id before it
// goes in the cabinet.
import type { Writable } from 'node:stream';
import { mkdirSync } from 'node:fs';
import { loadConfigFile } from '../agent-config/load.ts';
import { destinationsOf } from '../agent-config/schema.ts';
import { registerDevice, registeringProviders } from '../cloud/adapters/index.ts';
import { isTransientRefusal, RegistrationError } from '../cloud/credentials/registration-error.ts';
import { clockSynchronized } from '../clock.ts';
import { ensureDataDir } from '../data-dir.ts';
import { AgentError, ExitCode } from '../errors.ts';
import { destinationDataDir } from '../destination.ts';
import { createLogger } from '../log.ts';
import { AGENT_VERSION } from '../version.ts';

export async function runRegister(configPath: string, out: Writable): Promise<void> {
  const { config } = loadConfigFile(configPath);
  const registering = destinationsOf(config).filter((d) => registeringProviders.includes(d.provider));
  if (registering.length === 0) {
    // Exit 64 (usage), as before the registry knew registrations: nothing to do.
    const providers = destinationsOf(config).map((d) => `"${d.provider}"`).join(', ');
    throw new AgentError(`register applies to clouds whose devices register themselves (provider ${registeringProviders.map((p) => `"${p}"`).join(' or ')}); ${configPath} has provider ${providers}, which needs no registration step`, ExitCode.usage);
  }
  let registered = 0;
  for (const destination of registering) {
    const dataDir = destinationDataDir(config, destination.id);
    const ctx = { agentId: config.agent.id, agentVersion: AGENT_VERSION, dataDir, log: createLogger({ level: 'silent' }), now: () => Date.now(), clockSynchronized: () => clockSynchronized() };
    let outcome;
    try {
      ensureDataDir(config.agent.dataDir);
      mkdirSync(dataDir, { recursive: true, mode: 0o700 });
      outcome = await registerDevice(destination, ctx);
    } catch (error) {
      if (error instanceof RegistrationError) {
        // Unreachable, a server fault or throttled: try again later (69). Refused: the config or the cloud's enrollment needs a fix (78).
        const code = isTransientRefusal(error.refusal) ? ExitCode.unavailable : ExitCode.config;
        throw new AgentError(`${config.clouds ? `${destination.id}: ` : ''}${error.message}`, code, { cause: error });
      }
      throw error;
    }
    // This config names the device itself (an Azure connection string): nothing to register here.
    if (!outcome.needed) continue;
    registered++;
    const where = outcome.source === 'config' ? 'given in the config' : outcome.source === 'stored' ? `already registered (credentials in ${dataDir})` : `registered now (credentials saved in ${dataDir}, mode 0600)`;
    const details = (outcome.details ?? []).map(([label, value]) => `${label}: ${value}\n`).join('');
    out.write(`${config.clouds ? `${destination.id}\n` : ''}device id: ${outcome.deviceId}\n${where}\nMQTT hub: ${outcome.endpoint}\n${details}`);
  }
  if (registered === 0) {
    const providers = registering.map((d) => `"${d.provider}"`).join(', ');
    throw new AgentError(`provider ${providers} needs no registration step with this config: it names the device's credentials itself`, ExitCode.usage);
  }
}
