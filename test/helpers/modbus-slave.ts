// A Modbus RTU slave simulator on the device end of a pty pair (modbus-serial's ServerSerial),
// answering every unit id from a table the test fills: `registers.get(unit)!.holding[address] = word`.
import modbusSerial from 'modbus-serial';
import type { ServerSerial as ServerSerialType } from 'modbus-serial/ServerSerial.js';
import { serialBinding } from '../../src/sources/serial/hangup-aware-binding.ts';

type Tables = { holding: number[]; input: number[]; coils: boolean[]; discrete: boolean[] };

export interface ModbusSlave {
  units: Map<number, Tables>;
  /** Requests answered per unit id. */
  requests: Map<number, number>;
  /** Address (holding) that answers with exception 2 (illegal data address). */
  failAddress?: number;
  close(): Promise<void>;
}

const ServerSerial = (modbusSerial as unknown as { ServerSerial: new (...args: ConstructorParameters<typeof ServerSerialType>) => ServerSerialType }).ServerSerial;

export async function startModbusSlave(path: string, unitIds: number[]): Promise<ModbusSlave> {
  const units = new Map<number, Tables>(unitIds.map((id) => [id, { holding: [], input: [], coils: [], discrete: [] }]));
  const requests = new Map<number, number>();
  const slave: ModbusSlave = { units, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
  const table = (unit: number) => {
    requests.set(unit, (requests.get(unit) ?? 0) + 1);
    return units.get(unit)!;
  };
  const server = new ServerSerial(
    {
      // A unit id nobody has stays silent, as on a real bus: the master times out.
      getHoldingRegister: (address: number, unit: number) => {
        if (!units.has(unit)) return new Promise<number>(() => undefined);
        if (address === slave.failAddress) throw Object.assign(new Error('illegal address'), { modbusErrorCode: 0x02 });
        return table(unit).holding[address] ?? 0;
      },
      getInputRegister: (address: number, unit: number) => table(unit).input[address] ?? 0,
      getCoil: (address: number, unit: number) => table(unit).coils[address] ?? false,
      getDiscreteInput: (address: number, unit: number) => table(unit).discrete[address] ?? false,
      setRegister: (address: number, value: number, unit: number) => {
        table(unit).holding[address] = value;
      },
      setCoil: (address: number, value: boolean, unit: number) => {
        table(unit).coils[address] = value;
      },
    },
    // The hang-up-aware binding: when the agent closes its end, this side must not spin (see src/sources/serial/hangup-aware-binding.ts).
    { path, baudRate: 9600, unitID: 255, binding: serialBinding } as never,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('initialized', () => resolve());
    server.once('error', (e: unknown) => reject(e instanceof Error ? e : new Error(String(e))));
  });
  return slave;
}
