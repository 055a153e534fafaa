// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import { mqttAdapter } from './mqtt.ts';
import { waylayAdapter } from './waylay.ts';

export const adapterDefinitions = [mqttAdapter, waylayAdapter] as const;
