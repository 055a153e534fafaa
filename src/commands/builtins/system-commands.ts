// Commands about the gateway itself, beyond the agent.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { z } from 'zod';
import type { Logger } from '../../log.ts';
import { CommandFailure, defineHandler } from '../handler.ts';
import type { BuiltinDependencies } from './deps.ts';

export function systemCommands(deps: BuiltinDependencies) {
  return [
    defineHandler({
      name: 'system.reboot',
      description: 'Reboot the gateway (after answering). Only when commands.allowReboot is true.',
      params: z.looseObject({}),
      run: () => {
        if (!deps.config.commands.allowReboot) throw new CommandFailure(403, 'rebooting is disabled on this gateway (commands.allowReboot is false)');
        // Answer first: the reply must leave before the network goes down.
        setTimeout(() => void rebootGateway(deps.log), 1000).unref();
        return Promise.resolve({ rebooting: true });
      },
    }),
  ];
}

/** systemctl reboot; a refusal is logged, never thrown. */
function rebootGateway(log: Logger): Promise<void> {
  return promisify(execFile)('systemctl', ['reboot'], { timeout: 10_000 }).then(
    () => undefined,
    (error: Error & { stderr?: string }) => {
      // The reply ("rebooting") has left already: the log is where a refused reboot shows.
      const why = error.stderr?.trim().split('\n')[0] || error.message;
      log.error({ event: 'reboot-failed', reason: why }, `system.reboot: systemctl reboot failed (${why}); the edge-agent user needs permission to reboot: install.sh --allow-reboot`);
    },
  );
}
