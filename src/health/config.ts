import { validate } from 'node-cron';
import { z } from 'zod';
import { duration } from '../config/primitives.ts';

export const healthConfigSchema = z
  .strictObject({
    schedule: z
      .string()
      .refine((expression) => validate(expression), 'expected a cron expression with seconds, e.g. "0 * * * * *" (every minute)')
      .default('0 * * * * *')
      .meta({ description: 'When to send gateway health as telemetry of the "gateway" sensor (cron with seconds; default every minute).' }),
    telemetry: z.boolean().default(true).meta({ description: 'Send health samples through the cloud.' }),
    http: z
      .strictObject({
        enabled: z.boolean().default(true),
        listen: z
          .string()
          .regex(/^[^\s:]+:\d{1,5}$/, 'expected host:port such as "127.0.0.1:9880"')
          .default('127.0.0.1:9880')
          .meta({ description: 'Where /health and /metrics listen. Loopback by default: expose it only on purpose.' }),
      })
      .prefault({}),
    linkDownAfter: duration({ min: '10s' }).prefault('5m').meta({ description: '/health reports unhealthy when the cloud link has been down longer than this.' }),
    outboxFullRatio: z.number().gt(0).max(1).default(0.9).meta({ description: '/health reports unhealthy when the outbox is at least this full.' }),
    sensorSilentAfter: duration({ min: '1s' }).prefault('10m').meta({ description: '/health reports unhealthy when a sensor has produced nothing for this long.' }),
  })
  .meta({ description: 'Gateway health telemetry and the local /health and /metrics endpoint.' });

export type HealthConfig = z.output<typeof healthConfigSchema>;
