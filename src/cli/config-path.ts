import { existsSync } from 'node:fs';

export const SYSTEM_CONFIG = '/etc/edge-agent/agent.config.json';

/** `--config` wins; else ./agent.config.json when present (working on site), else the system config. */
export function resolveConfigPath(explicit: string | undefined): string {
  if (explicit) return explicit;
  return existsSync('agent.config.json') ? 'agent.config.json' : SYSTEM_CONFIG;
}
