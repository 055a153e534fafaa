// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import type { AgentConfig } from '../../config/schema.ts';
import type { AdapterContext, AdapterDefinition, CloudAdapter } from '../adapter.ts';
import { linkWarnings, type LinkWarning } from '../link-warnings.ts';
import { alibabaAdapter } from './alibaba.ts';
import { azureAdapter } from './azure.ts';
import { mqttAdapter } from './mqtt.ts';
import { waylayAdapter } from './waylay.ts';
import { xyteAdapter } from './xyte.ts';

export const adapterDefinitions = [mqttAdapter, waylayAdapter, azureAdapter, alibabaAdapter, xyteAdapter] as const;

/**
 * The same list, each entry widened to AdapterDefinition: `create` and `linkFacts` are declared as
 * methods (parameters checked bivariantly), so this needs no cast. Looked up by a validated config's
 * `provider`: the config schema is a discriminated union of these adapters' own schemas on
 * `provider`, so the definition found is the one whose schema produced that config. TypeScript
 * cannot follow that correlation through `find`.
 */
const definitions: readonly AdapterDefinition[] = adapterDefinitions;

/** What is unsafe about a validated cloud config's link, as its provider's adapter describes it. */
export function cloudLinkWarnings(cloud: { provider: string }): LinkWarning[] {
  const definition = definitions.find((d) => d.provider === cloud.provider);
  return definition ? linkWarnings(definition.linkFacts(cloud)) : [];
}

/** Builds the adapter a validated cloud config names. */
export function createAdapter(cloud: AgentConfig['cloud'], ctx: AdapterContext): CloudAdapter {
  const definition = definitions.find((d) => d.provider === cloud.provider);
  if (!definition) throw new Error(`no cloud adapter for provider "${cloud.provider}"`);
  return definition.create(cloud, ctx);
}
