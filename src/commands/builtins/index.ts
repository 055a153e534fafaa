// The built-in commands. The allowlist in the config decides which of them the cloud may run.
import type { StatusSnapshot } from '../../status/snapshot.ts';
import type { CommandHandler } from '../handler.ts';
import { pingHandler } from './ping.ts';
import { statusHandler } from './status.ts';

export interface BuiltinDependencies {
  snapshot: () => StatusSnapshot;
}

export function builtinHandlers(deps: BuiltinDependencies): CommandHandler[] {
  return [pingHandler, statusHandler(deps.snapshot)];
}
