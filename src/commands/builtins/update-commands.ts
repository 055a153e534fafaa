import { updateParamsSchema, type Requester, type UpdateParams } from '../../update/state.ts';
import { CommandAccepted, CommandFailure, defineHandler } from '../handler.ts';
import type { BuiltinDependencies } from './deps.ts';

/** What agent.update asks of the agent's updater (src/update/updater.ts). */
export interface UpdateRequests {
  request(params: UpdateParams, requester: Requester): { status: number; data?: unknown; message?: string };
}

export function updateCommands(deps: BuiltinDependencies) {
  return [
    defineHandler({
      name: 'agent.update',
      description: 'Download, verify (SHA-256, Ed25519 signature by a key in update.publicKeys, architecture, version) and install a new agent binary, then restart into it; rolled back unless it connects within update.confirmWithin. Answered 202 at once, the outcome follows.',
      params: updateParamsSchema,
      run: (params, context) => {
        const answer = deps.update.request(params, context.requester);
        if (answer.status === 202) return Promise.resolve(new CommandAccepted(answer.data));
        if (answer.status >= 300) throw new CommandFailure(answer.status, answer.message ?? 'refused');
        return Promise.resolve(answer.data);
      },
    }),
  ];
}
