import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { Reading } from './reading.ts';

/** Counters every source keeps; status, health and /metrics read them. */
export interface SensorStats {
  readings: number;
  parseErrors: number;
  /** Errors of the transport (port missing, EIO, timeouts, Modbus exceptions). */
  ioErrors: number;
  lastReadingAt: number | null;
  lastError: string | null;
  lastErrorAt: number | null;
  /** Source-specific counters, e.g. per Modbus slave; flat names with numeric values. */
  extra?: Record<string, number>;
}

export function emptySensorStats(): SensorStats {
  return { readings: 0, parseErrors: 0, ioErrors: 0, lastReadingAt: null, lastError: null, lastErrorAt: null };
}

export interface SourceContext {
  log: Logger;
  /** Hands a reading to the outbox. Cheap and synchronous: the outbox buffers and group-commits. */
  emit(reading: Reading): void;
  now(): number;
  /** False while the system clock is evidently unsynchronized; readings are then flagged. */
  clockSynchronized(): boolean;
}

/** A running sensor. The constructor only assigns fields; start() and stop() do the I/O. */
export interface Source {
  readonly id: string;
  readonly type: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  stats(): SensorStats;
  /** Poll now (the `sensor.read` command); resolves with what was read. */
  readNow?(): Promise<Reading[]>;
  /** Write raw bytes to the sensor's port (the `serial.write` command). */
  write?(data: Buffer): Promise<void>;
  /** Write coils or holding registers (the `modbus.write` command); Modbus sources only. */
  writeModbus?(request: ModbusWriteRequest): Promise<void>;
}

export interface ModbusWriteRequest {
  /** Default: the sensor's own unit id. */
  unitId?: number;
  table: 'coils' | 'holding';
  address: number;
  values: number[] | boolean[];
}

/** One kind of source: its config schema (a zod object with `type` as literal) and a factory. */
export interface SourceType<Schema extends z.ZodType = z.ZodType> {
  readonly type: string;
  readonly configSchema: Schema;
  create(config: z.output<Schema>, ctx: SourceContext): Source;
}
