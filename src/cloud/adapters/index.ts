// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import type { AgentConfig } from '../../agent-config/schema.ts';
import type { AdapterContext, AdapterDefinition, CloudAdapter } from '../adapter.ts';
import { registerWith, superviseCredentials, type RegisterOutcome } from '../credentials/supervised-adapter.ts';
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

/** What check-config says of a validated cloud config beside its provider and URL, if anything. */
export function cloudDescription(cloud: { provider: string }, agentId: string): string | undefined {
  return definitions.find((d) => d.provider === cloud.provider)?.describe?.(cloud, agentId);
}

/** The definition a validated cloud config names. */
export function adapterDefinition(cloud: { provider: string }): AdapterDefinition {
  const definition = definitions.find((d) => d.provider === cloud.provider);
  if (!definition) throw new Error(`no cloud adapter for provider "${cloud.provider}"`);
  return definition;
}

/**
 * Builds the adapter a validated cloud config names, with its credentials part (if any) behind
 * connectOptions and onAuthRejected. With ctx.readOnly (doctor) nothing registers and nothing is written.
 */
export function createAdapter(cloud: AgentConfig['cloud'], ctx: AdapterContext): CloudAdapter {
  return superviseCredentials(adapterDefinition(cloud), cloud, ctx);
}

/** Providers whose devices register themselves (their definition has a credentials part). */
export const registeringProviders: readonly string[] = definitions.filter((d) => d.credentials).map((d) => d.provider);

/** `edge-agent register` for any cloud: its credentials part's answer, or `needed: false` when it has none. */
export function registerDevice(cloud: AgentConfig['cloud'], ctx: AdapterContext): Promise<RegisterOutcome> {
  return registerWith(adapterDefinition(cloud).credentials, cloud, ctx);
}
