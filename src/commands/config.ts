import { z } from 'zod';
import { duration } from '../config/primitives.ts';

export const commandsConfigSchema = z
  .strictObject({
    allow: z.array(z.string().min(1)).default(['ping', 'status']).meta({ description: 'Commands the cloud may run; everything else is refused. Scripts are allowed by name as "script:<name>".' }),
    timeout: duration({ min: '100ms', max: '1h' }).prefault('30s').meta({ description: 'Longest a command may run before it is answered with a timeout.' }),
  })
  .meta({ description: 'Commands from the cloud.' });

export type CommandsConfig = z.output<typeof commandsConfigSchema>;
