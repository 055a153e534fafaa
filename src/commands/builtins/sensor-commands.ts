import { z } from 'zod';
import type { Source } from '../../sources/source.ts';
import { CommandFailure, defineHandler } from '../handler.ts';
import type { BuiltinDependencies } from './deps.ts';

function findSource(deps: BuiltinDependencies, id: string): Source {
  const source = deps.sources().find((s) => s.id === id);
  if (!source) throw new CommandFailure(404, `no sensor "${id}"; configured: ${deps.sources().map((s) => s.id).join(', ') || 'none'}`);
  return source;
}

const hex = z.string().regex(/^([0-9a-fA-F]{2})+$/, 'expected hex bytes such as "0a0d"');

export function sensorCommands(deps: BuiltinDependencies) {
  return [
    defineHandler({
      name: 'sensor.read',
      description: 'Poll a sensor now; answers with what was read (also stored and sent as usual).',
      params: z.strictObject({ sensor: z.string() }),
      run: async ({ sensor }) => {
        const source = findSource(deps, sensor);
        if (!source.readNow) throw new CommandFailure(400, `sensor "${sensor}" (${source.type}) cannot be polled on demand`);
        return { readings: await source.readNow() };
      },
    }),
    defineHandler({
      name: 'serial.write',
      description: "Write text or hex bytes to a configured sensor's serial port.",
      params: z.union([z.strictObject({ sensor: z.string(), text: z.string().max(4096) }), z.strictObject({ sensor: z.string(), hex: hex.max(8192) })]),
      run: async (params) => {
        const source = findSource(deps, params.sensor);
        if (!source.write) throw new CommandFailure(400, `sensor "${params.sensor}" (${source.type}) has no serial port to write to`);
        const data = 'text' in params ? Buffer.from(params.text, 'utf8') : Buffer.from(params.hex, 'hex');
        await source.write(data);
        return { written: data.length };
      },
    }),
    defineHandler({
      name: 'modbus.write',
      description: 'Write coils or holding registers through a configured Modbus sensor.',
      params: z.strictObject({
        sensor: z.string(),
        unitId: z.int().min(0).max(247).optional(),
        table: z.enum(['coils', 'holding']),
        address: z.int().min(0).max(65535),
        values: z.union([z.array(z.int().min(0).max(65535)).min(1).max(123), z.array(z.boolean()).min(1).max(1968)]),
      }),
      run: async (params) => {
        const source = findSource(deps, params.sensor);
        if (!source.writeModbus) throw new CommandFailure(400, `sensor "${params.sensor}" (${source.type}) is not a Modbus sensor`);
        if (params.table === 'coils' && typeof params.values[0] !== 'boolean') throw new CommandFailure(400, 'coils take true/false values');
        if (params.table === 'holding' && typeof params.values[0] !== 'number') throw new CommandFailure(400, 'holding registers take numbers 0-65535');
        await source.writeModbus({ table: params.table, address: params.address, values: params.values, ...(params.unitId === undefined ? {} : { unitId: params.unitId }) });
        return { written: params.values.length };
      },
    }),
  ];
}
