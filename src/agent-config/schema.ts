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
import { updateConfigSchema } from '../update/config.ts';

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

const cloudSchema = z.discriminatedUnion('provider', cloudBranches, { error: `expected "provider": one of ${PROVIDERS.map((p) => `"${p}"`).join(', ')}` });

/** Destinations at once, at most: each is a session, a forwarder and a bit in the outbox's progress. */
export const MAX_DESTINATIONS = 8;

export const configSchema = z
  .strictObject({
    $schema: z.string().optional().meta({ description: 'Path or URL of agent.config.schema.json, for editors.' }),
    version: z.literal(1).default(1).meta({ description: 'Format version of this file.' }),
    agent: agentSchema.prefault({}),
    cloud: cloudSchema.optional().meta({ description: 'Where readings go (one destination). For several, use "clouds" instead.' }),
    clouds: z
      .array(cloudSchema)
      .min(1)
      .max(MAX_DESTINATIONS)
      .optional()
      .meta({ description: `Several destinations at once (at most ${MAX_DESTINATIONS}), each a cloud section with an "id": every reading goes to each (or to those whose "sensors" match), each at its own pace.` }),
    sensors: z
      .array(z.discriminatedUnion('type', sensorBranches, { error: `expected "type": one of ${SENSOR_TYPES.map((t) => `"${t}"`).join(', ')}` }))
      .default([])
      .meta({ description: 'The sensors to read.' }),
    outbox: outboxConfigSchema.prefault({}),
    commands: commandsConfigSchema.prefault({}),
    health: healthConfigSchema.prefault({}),
    update: updateConfigSchema.prefault({}),
  })
  .superRefine((config, ctx) => {
    if (config.cloud === undefined && config.clouds === undefined) ctx.addIssue({ code: 'custom', path: ['cloud'], message: 'expected "cloud": a cloud section, or "clouds": an array of them, found nothing' });
    if (config.cloud !== undefined && config.clouds !== undefined) ctx.addIssue({ code: 'custom', path: ['clouds'], message: 'expected "cloud" or "clouds", not both: move the "cloud" section into "clouds" with an "id"' });
    const ids = new Map<string, number>();
    config.clouds?.forEach((cloud, index) => {
      if (cloud.id === undefined) return ctx.addIssue({ code: 'custom', path: ['clouds', index, 'id'], message: 'expected an "id" for each of "clouds" (e.g. "azure" or "scada"), found nothing' });
      const first = ids.get(cloud.id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['clouds', index, 'id'], message: `expected a unique destination id, found "${cloud.id}" again (first at clouds[${first}])` });
      else ids.set(cloud.id, index);
    });
    // Two connections to one broker with one client id: the broker drops each when the other connects, forever.
    const clients = new Map<string, number>();
    config.clouds?.forEach((cloud, index) => {
      if (cloud.provider !== 'mqtt') return;
      const key = `${cloud.url} ${cloud.clientId ?? config.agent.id}`;
      const first = clients.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['clouds', index, 'clientId'], message: `expected a clientId of its own: clouds[${first}] connects to the same broker as the same client, and the broker would drop one each time the other connects, found ${cloud.clientId === undefined ? 'none (both use the agent id)' : `"${cloud.clientId}" again`}` });
      else clients.set(key, index);
    });
    const seen = new Map<string, number>();
    config.sensors.forEach((sensor, index) => {
      const id = (sensor as { id: string }).id;
      const first = seen.get(id);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['sensors', index, 'id'], message: `expected a unique sensor id, found "${id}" again (first at sensors[${first}])` });
      else seen.set(id, index);
    });
  })
  // `cloud` is always there for the parts that need one destination (the first of "clouds"); the
  // same object, so resolving secrets visits it once, at its path in the file ("clouds" first).
  .transform(({ cloud, clouds, ...rest }) => ({ ...rest, ...(clouds ? { clouds } : {}), cloud: cloud ?? clouds![0]! }));

type CloudSection = z.output<typeof cloudSchema>;

/** One destination: a cloud section with its id ("cloud" for a config's single `cloud` section). */
export type DestinationConfig = CloudSection & { id: string };

/** The destinations a validated config names, in order: its `clouds`, or its one `cloud` as "cloud". */
export function destinationsOf(config: { cloud: CloudSection; clouds?: CloudSection[] | undefined }): DestinationConfig[] {
  if (config.clouds) return config.clouds.map((cloud) => ({ ...cloud, id: cloud.id! }));
  return [{ ...config.cloud, id: config.cloud.id ?? 'cloud' }];
}

/** The config after validation and defaults: what the agent's parts receive, each its own slice. */
export type AgentConfig = z.output<typeof configSchema>;
export type CloudConfig = AgentConfig['cloud'];
export type SensorConfig = AgentConfig['sensors'][number];

export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-7' });
}
