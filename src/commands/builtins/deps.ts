import type { AgentConfig } from '../../agent-config/schema.ts';
import type { Logger } from '../../log.ts';
import type { Outbox } from '../../outbox/outbox.ts';
import type { Source } from '../../sources/source.ts';
import type { StatusSnapshot } from '../../status/snapshot.ts';
import type { UpdateRequests } from './update-commands.ts';

/** What the built-in commands may reach. The agent provides it; handlers never see the cloud. */
export interface BuiltinDependencies {
  snapshot: () => StatusSnapshot;
  config: AgentConfig;
  /** The config file as written (comments dropped), for config.get. */
  rawConfig: () => unknown;
  /** The raw config with inline secrets replaced (src/agent-config/redact.ts: it needs the root schema, which sits above commands). */
  redactConfig: (raw: unknown) => unknown;
  applyConfigChange: (patch: unknown, origin: string) => Promise<{ applied: boolean; message?: string; config?: unknown }>;
  sources: () => readonly Source[];
  outbox: Outbox;
  /** Stops cleanly, then exits so systemd starts the agent again. */
  requestRestart: (reason: string) => void;
  /** agent.update: the agent's updater. */
  update: UpdateRequests;
  /** Where a built-in command that acts after answering (system.reboot) reports what went wrong. */
  log: Logger;
}
