// The cloud registry: one line per provider. `cloud.provider` in the config picks one.
import { alibabaAdapter } from './alibaba.ts';
import { azureAdapter } from './azure.ts';
import { mqttAdapter } from './mqtt.ts';
import { waylayAdapter } from './waylay.ts';
import { xyteAdapter } from './xyte.ts';

export const adapterDefinitions = [mqttAdapter, waylayAdapter, azureAdapter, alibabaAdapter, xyteAdapter] as const;
