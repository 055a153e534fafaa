// The built-in commands. The allowlist in the config decides which of them the cloud may run.
import type { CommandHandler } from '../handler.ts';
import { agentCommands } from './agent-commands.ts';
import { configCommands } from './config-commands.ts';
import type { BuiltinDependencies } from './deps.ts';
import { pingHandler } from './ping.ts';
import { scriptCommands } from './script-commands.ts';
import { sensorCommands } from './sensor-commands.ts';
import { statusHandler } from './status.ts';
import { systemCommands } from './system-commands.ts';
import { updateCommands } from './update-commands.ts';

export type { BuiltinDependencies } from './deps.ts';

export function builtinHandlers(deps: BuiltinDependencies): CommandHandler[] {
  return [pingHandler, statusHandler(deps.snapshot), ...configCommands(deps), ...sensorCommands(deps), ...agentCommands(deps), ...systemCommands(deps), ...updateCommands(deps), ...scriptCommands(deps)] as CommandHandler[];
}
