import { z } from 'zod';
import { defineHandler } from '../handler.ts';
import { buildScriptArgs, runScript } from '../script-runner.ts';
import type { BuiltinDependencies } from './deps.ts';

/** One command per configured script: "script.<name>", with its declared parameters. */
export function scriptCommands(deps: BuiltinDependencies) {
  return Object.entries(deps.config.commands.scripts).map(([name, script]) =>
    defineHandler({
      name: `script.${name}`,
      description: `Runs ${script.path}.`,
      params: z.record(z.string(), z.unknown()),
      run: async (params, context) => {
        const argv = buildScriptArgs(name, script, params);
        const result = await runScript(script, argv, context.signal);
        return { ...result, ok: result.exitCode === 0 };
      },
    }),
  );
}
