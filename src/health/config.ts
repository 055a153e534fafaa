import { z } from 'zod';

export const healthConfigSchema = z
  .strictObject({
    schedule: z.string().min(1).default('0 * * * * *').meta({ description: 'When to send gateway health (cron with seconds; default every minute).' }),
  })
  .meta({ description: 'Gateway health telemetry and the local /health and /metrics endpoint.' });

export type HealthConfig = z.output<typeof healthConfigSchema>;
