// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import type { AdapterDefinition } from '../adapter.ts';
import { linkWarnings, type LinkWarning } from '../link-warnings.ts';
import { alibabaAdapter } from './alibaba.ts';
import { azureAdapter } from './azure.ts';
import { mqttAdapter } from './mqtt.ts';
import { waylayAdapter } from './waylay.ts';
import { xyteAdapter } from './xyte.ts';

export const adapterDefinitions = [mqttAdapter, waylayAdapter, azureAdapter, alibabaAdapter, xyteAdapter] as const;

/** What is unsafe about a validated cloud config's link, as its provider's adapter describes it. */
export function cloudLinkWarnings(cloud: { provider: string }): LinkWarning[] {
  const definition = adapterDefinitions.find((d) => d.provider === cloud.provider) as AdapterDefinition | undefined;
  return definition ? linkWarnings(definition.linkFacts(cloud)) : [];
}
