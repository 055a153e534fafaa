// The source registry: one line per sensor type. A sensor's `type` in the config picks one.
import type { SensorConfig } from '../agent-config/schema.ts';
import { modbusRtuSource } from './modbus/modbus-rtu.ts';
import { serialLineSource } from './serial/serial-line.ts';
import { simulatedSource } from './simulated/simulated.ts';
import type { Source, SourceContext, SourceType } from './source.ts';

export const sourceTypes = [simulatedSource, serialLineSource, modbusRtuSource] as const;

/**
 * Builds the source a validated sensor config names. The config schema is a discriminated union of
 * these types' own schemas on `type`, so the type found here is the one whose schema produced this
 * config. TypeScript cannot follow that correlation through `find`: `create` is declared as a method
 * (parameters checked bivariantly), so every entry widens to SourceType without a cast.
 */
export function createSource(sensor: SensorConfig, ctx: SourceContext): Source {
  const types: readonly SourceType[] = sourceTypes;
  const type = types.find((t) => t.type === sensor.type);
  if (!type) throw new Error(`no source type "${sensor.type}"`);
  return type.create(sensor, ctx);
}
