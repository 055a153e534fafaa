import { z } from 'zod';
import { duration } from '../../config/primitives.ts';
import { defineHandler } from '../handler.ts';
import type { BuiltinDependencies } from './deps.ts';

export function agentCommands(deps: BuiltinDependencies) {
  return [
    defineHandler({
      name: 'outbox.purge',
      description: 'Drop stored readings by sensor and/or age (they are counted as dropped).',
      params: z
        .strictObject({ sensor: z.string().optional(), olderThan: duration().optional() })
        .refine((p) => p.sensor !== undefined || p.olderThan !== undefined, 'give "sensor", "olderThan" (e.g. "7d") or both'),
      run: ({ sensor, olderThan }) => {
        const purged = deps.outbox.purge({ ...(sensor === undefined ? {} : { sensorId: sensor }), ...(olderThan === undefined ? {} : { olderThan: Date.now() - olderThan }) });
        return Promise.resolve({ purged });
      },
    }),
    defineHandler({
      name: 'agent.restart',
      description: 'Restart the agent (after answering). Nothing stored is lost.',
      params: z.looseObject({}),
      run: () => {
        deps.requestRestart('agent.restart command');
        return Promise.resolve({ restarting: true });
      },
    }),
  ];
}
