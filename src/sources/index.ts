// The source registry: one line per sensor type. A sensor's `type` in the config picks one.
import { modbusRtuSource } from './modbus/modbus-rtu.ts';
import { serialLineSource } from './serial/serial-line.ts';
import { simulatedSource } from './simulated/simulated.ts';

export const sourceTypes = [simulatedSource, serialLineSource, modbusRtuSource] as const;
