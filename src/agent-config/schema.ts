// The one schema of agent.config.json. Types, defaults, validation and the committed
// agent.config.schema.json (for editors) all derive from it.
import { hostname } from 'node:os';
import { z } from 'zod';
import { adapterDefinitions } from '../cloud/adapters/index.ts';
import { commandsConfigSchema } from '../commands/config.ts';
import { logLevel } from '../config/primitives.ts';
import { healthConfigSchema } from '../health/config.ts';
import { outboxConfigSchema } from '../outbox/config.ts';
import { sourceTypes } from '../sources/index.ts';

type SchemasOf<T extends readonly { configSchema: z.ZodType }[]> = { -readonly [K in keyof T]: T[K]['configSchema'] };

function schemasOf<T extends readonly { configSchema: z.ZodType }[]>(items: T): SchemasOf<T> {
  return items.map((item) => item.configSchema) as SchemasOf<T>;
}

const cloudBranches = schemasOf(adapterDefinitions);
const sensorBranches = schemasOf(sourceTypes);

export const PROVIDERS = adapterDefinitions.map((a) => a.provider);
export const SENSOR_TYPES = sourceTypes.map((s) => s.type);

const agentSchema = z
  .strictObject({
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected letters, digits, "_", "." or "-" (at most 64)')
      .optional()
      // Not a schema default: the generated JSON schema would then carry this machine's hostname.
      .transform((id) => id ?? (hostname().replace(/[^A-Za-z0-9_.-]/g, '-').slice(0, 64) || 'gateway'))
      .meta({ description: 'Name of this gateway; appears in topics and reading ids. Default: the hostname.' }),
    dataDir: z.string().min(1).default('/var/lib/edge-agent').meta({ description: 'Where the outbox and stored credentials live. Must be writable and on persistent storage.' }),
    logLevel: logLevel.default('info'),
  })
  .meta({ description: 'The agent itself.' });

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'Path or URL of agent.config.schema.json, for editors.' }),
    version: z.literal(1).default(1).meta({ description: 'Format version of this file.' }),
    agent: agentSchema.prefault({}),
    cloud: z.discriminatedUnion('provider', cloudBranches, { error: `expected "provider": one of ${PROVIDERS.map((p) => `"${p}"`).join(', ')}` }).meta({ description: 'Where readings go.' }),
    sensors: z
      .array(z.discriminatedUnion('type', sensorBranches, { error: `expected "type": one of ${SENSOR_TYPES.map((t) => `"${t}"`).join(', ')}` }))
      .default([])
      .meta({ description: 'The sensors to read.' }),
    outbox: outboxConfigSchema.prefault({}),
    commands: commandsConfigSchema.prefault({}),
    health: healthConfigSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    const seen = new Map<string, number>();
    config.sensors.forEach((sensor, index) => {
      const id = (sensor as { id: string }).id;
      const first = seen.get(id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['sensors', index, 'id'], message: `expected a unique sensor id, found "${id}" again (first at sensors[${first}])` });
      else seen.set(id, index);
    });
  });

/** The config after validation and defaults: what the agent's parts receive, each its own slice. */
export type AgentConfig = z.output<typeof configSchema>;
export type CloudConfig = AgentConfig['cloud'];
export type SensorConfig = AgentConfig['sensors'][number];

export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' });
}
