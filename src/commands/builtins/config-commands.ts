import { z } from 'zod';
import { CommandFailure, defineHandler } from '../handler.ts';
import type { BuiltinDependencies } from './deps.ts';

export function configCommands(deps: BuiltinDependencies) {
  return [
    defineHandler({
      name: 'config.get',
      description: 'The config file as written, inline secrets redacted.',
      params: z.looseObject({}),
      run: () => Promise.resolve(deps.redactConfig(deps.rawConfig())),
    }),
    defineHandler({
      name: 'config.set',
      description: 'Merge a partial config into the file (validated like the file, written atomically, previous kept as .bak), then apply it. Cloud changes are rolled back if the link does not come up.',
      params: z.strictObject({ config: z.record(z.string(), z.unknown()) }),
      run: async ({ config }) => {
        const outcome = await deps.applyConfigChange(config, 'command config.set');
        if (!outcome.applied) throw new CommandFailure(400, `config refused: ${outcome.message ?? 'invalid'}`);
        return { applied: true, config: deps.redactConfig(outcome.config) };
      },
    }),
  ];
}
