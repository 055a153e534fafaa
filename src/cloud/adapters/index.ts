// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import { mqttAdapter } from './mqtt.ts';

export const adapterDefinitions = [mqttAdapter] as const;
