// `edge-agent register`: only the registration step of a cloud that registers devices (Xyte), so an
// installer can register a gateway on the bench and see its device id before it goes in the cabinet.
import type { Writable } from 'node:stream';
import { loadConfigFile } from '../config/load.ts';
import { resolveXyteCredentials } from '../cloud/adapters/xyte.ts';
import { XyteRegistrationError } from '../cloud/adapters/xyte/registration.ts';
import { ensureDataDir } from '../data-dir.ts';
import { AgentError, ExitCode } from '../errors.ts';

export async function runRegister(configPath: string, out: Writable): Promise<void> {
  const { config } = loadConfigFile(configPath);
  if (config.cloud.provider !== 'xyte') {
    throw new AgentError(`register applies to clouds that register devices over HTTPS (provider "xyte"); ${configPath} has provider "${config.cloud.provider}", which needs no registration step`, ExitCode.usage);
  }
  ensureDataDir(config.agent.dataDir);
  try {
    const { credentials, source } = await resolveXyteCredentials(config.cloud, config.agent.dataDir);
    const where = source === 'config' ? 'given in the config' : source === 'stored' ? `already registered (credentials in ${config.agent.dataDir})` : `registered now (credentials saved in ${config.agent.dataDir}, mode 0600)`;
    out.write(`device id: ${credentials.id}\n${where}\nMQTT hub: ${credentials.mqttHubUrl}\n`);
  } catch (error) {
    if (error instanceof XyteRegistrationError) {
      const code = error.refusal === 'unreachable' || error.refusal === 'server' ? ExitCode.unavailable : ExitCode.config;
      const hint = error.refusal === 'duplicate' ? ': this serial number is already registered; delete the device in the Xyte portal to register it again, or put its id, accessKey and mqttHubUrl in the config' : '';
      throw new AgentError(`Xyte ${error.message}${hint}`, code, { cause: error });
    }
    throw error;
  }
}
