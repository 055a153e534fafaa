import { z } from 'zod';
import { duration, size } from '../config/primitives.ts';

const scriptName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,47}$/, 'expected a script name of lower-case letters, digits, "_" or "-"');

const scriptSchema = z
  .strictObject({
    path: z.string().regex(/^\//, 'expected an absolute path to the executable').meta({ description: 'Absolute path of the program; run directly (execFile), never through a shell.' }),
    args: z
      .array(z.string())
      .default([])
      .meta({ description: 'Fixed arguments. An argument written exactly "{name}" is replaced by the validated parameter "name", as one argument.' }),
    params: z
      .record(
        z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,31}$/, 'expected a parameter name of letters, digits or "_"'),
        z.strictObject({
          pattern: z
            .string()
            .refine((p) => {
              try {
                new RegExp(p);
                return true;
              } catch {
                return false;
              }
            }, 'expected a valid regular expression')
            .meta({ description: 'The whole value must match (anchored); e.g. "^[0-9]{1,3}$".' }),
          required: z.boolean().default(false),
        }),
      )
      .default({})
      .meta({ description: 'Parameters the cloud may pass, each checked against its pattern.' }),
    timeout: duration({ min: '100ms', max: '1h' }).prefault('30s'),
    user: z.string().min(1).optional().meta({ description: 'Run as this user (the agent must be allowed to switch users).' }),
    maxOutput: size({ max: '1MB' }).prefault('16KB').meta({ description: 'Output kept for the reply; the rest is cut.' }),
  })
  .meta({ description: 'A program the cloud may run by name, as command "script.<name>".' });

export const commandsConfigSchema = z
  .strictObject({
    allow: z
      .array(z.string().min(1))
      .default(['ping', 'status', 'config.get', 'sensor.read'])
      .meta({ description: 'Commands the cloud may run; everything else is refused. Default: the read-only ones. Scripts are allowed as "script.<name>".' }),
    timeout: duration({ min: '100ms', max: '1h' }).prefault('30s').meta({ description: 'Longest a command may run before it is answered with a timeout.' }),
    maxConcurrent: z.int().min(1).max(64).default(4).meta({ description: 'Commands running at once. As many more as commands.rate.burst wait for a slot (at most commands.timeout); beyond that they are answered "busy" (429).' }),
    rate: z
      .strictObject({
        perSecond: z.number().positive().max(10_000).default(10).meta({ description: 'Commands accepted per second, on average.' }),
        burst: z.int().min(1).max(10_000).default(32).meta({ description: 'Commands accepted at once after a quiet spell (a Waylay bulk message holds up to 32).' }),
      })
      .prefault({})
      .meta({
        description:
          'How fast the cloud may send commands. Beyond the rate, as many again are answered "too many" (429); the rest are dropped without a reply and counted, so a flood from anyone who can publish on the commands topic cannot exhaust memory.',
      }),
    maxAge: z
      .union([z.literal('off'), duration({ min: '1s', max: '30d' })])
      .prefault('10m')
      .meta({
        description:
          'Refuse (410) a command the cloud sent longer ago than this, by the timestamp it carries ("timestamp" or "ts" in the generic and Waylay formats), instead of running it late. Not checked while the gateway clock is not synchronised. "off": run commands however old.',
      }),
    allowReboot: z.boolean().default(false).meta({ description: 'Let the cloud reboot the gateway (system.reboot); it must also be in allow.' }),
    configRollbackAfter: duration({ min: '10s', max: '30m' }).prefault('2m').meta({ description: 'After config.set changes cloud settings, roll back if the link is not up again within this time.' }),
    scripts: z.record(scriptName, scriptSchema).default({}),
  })
  .meta({ description: 'Commands from the cloud.' });

export type CommandsConfig = z.output<typeof commandsConfigSchema>;
export type ScriptConfig = z.output<typeof scriptSchema>;

/** With commands.maxAge off, a kept session still ends some day: a day covers any blip worth riding out. */
const SESSION_EXPIRY_WITHOUT_MAX_AGE_MS = 24 * 60 * 60_000;

/** How long a broker should keep the agent's session and the commands in it: no longer than they could still run. */
export function sessionExpiryMs(commands: Pick<CommandsConfig, 'maxAge'>): number {
  return commands.maxAge === 'off' ? SESSION_EXPIRY_WITHOUT_MAX_AGE_MS : commands.maxAge;
}
