import { validate } from 'node-cron';
import { z } from 'zod';
import { duration, secret } from '../config/primitives.ts';

const LISTEN = /^[^\s:]+:\d{1,5}$/;

function portInRange(listen: string): boolean {
  const port = Number(listen.slice(listen.lastIndexOf(':') + 1));
  return port >= 1 && port <= 65535;
}

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
          .regex(LISTEN, 'expected host:port such as "127.0.0.1:9880"')
          // Five digits pass the pattern up to 99999; listen() would throw at start, after check-config said OK.
          // Port 0 (any free port) is refused too: nobody could find the endpoint.
          .refine((listen) => !LISTEN.test(listen) || portInRange(listen), 'expected a port between 1 and 65535 in host:port such as "127.0.0.1:9880"')
          .default('127.0.0.1:9880')
          .meta({ description: 'Where /health, /metrics and the status page (/) listen. Loopback by default: expose it only on purpose.' }),
        token: secret()
          .optional()
          .meta({
            description:
              'Needed for the status page (/) and its data when listen is not a loopback address: sent as "Authorization: Bearer <token>", or opened once as /?token=<token> in a browser. Without it the page is off on a LAN address. /health and /metrics never need it.',
          }),
      })
      .prefault({}),
    linkDownAfter: duration({ min: '10s' }).prefault('5m').meta({ description: '/health reports unhealthy when the cloud link has been down longer than this.' }),
    outboxFullRatio: z.number().gt(0).max(1).default(0.9).meta({ description: '/health reports unhealthy when the outbox is at least this full.' }),
    sensorSilentAfter: duration({ min: '1s' }).prefault('10m').meta({ description: '/health reports unhealthy when a sensor has produced nothing for this long.' }),
  })
  .meta({ description: 'Gateway health telemetry, the local /health and /metrics endpoint and the status page.' });

export type HealthConfig = z.output<typeof healthConfigSchema>;
