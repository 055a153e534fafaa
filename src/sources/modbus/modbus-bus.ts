// One RS-485 bus: one port, one modbus-serial client, requests strictly one at a time (a second
// master talking mid-frame would garble both). Sensors on the same port share it.
import type { ModbusRTU, SerialPortOptions } from 'modbus-serial/ModbusRTU.js';
import { serialBinding } from '../serial/hangup-aware-binding.ts';
import type { Logger } from '../../log.ts';
import type { SerialSettings } from '../serial/serial-connection.ts';

// modbus-serial is CommonJS whose module.exports is the client class; its typings describe an ES
// default. Loaded when a bus first opens: a gateway without Modbus sensors never pays for it at start.
const modbusClient = async (): Promise<ModbusRTU> => new ((await import('modbus-serial')).default as unknown as new () => ModbusRTU)();

const buses = new Map<string, { bus: ModbusBus; users: number }>();

/** The bus for a port, shared by every sensor configured on it. */
export function acquireBus(settings: SerialSettings, log: Logger): ModbusBus {
  const entry = buses.get(settings.port);
  if (entry) {
    entry.users++;
    return entry.bus;
  }
  const bus = new ModbusBus(settings, log);
  buses.set(settings.port, { bus, users: 1 });
  return bus;
}

export async function releaseBus(bus: ModbusBus): Promise<void> {
  const entry = buses.get(bus.port);
  if (!entry || entry.bus !== bus) return;
  if (--entry.users > 0) return;
  buses.delete(bus.port);
  await bus.close();
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export class ModbusBus {
  readonly port: string;
  readonly #settings: SerialSettings;
  readonly #log: Logger;
  #client: ModbusRTU | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #opening: Promise<void> | undefined;
  #retryAt = 0;
  #retryMs = FIRST_RETRY_MS;
  #closed = false;
  #lastFailure = '';

  constructor(settings: SerialSettings, log: Logger) {
    this.port = settings.port;
    this.#settings = settings;
    this.#log = log;
  }

  /** Runs one transaction with exclusive use of the bus. */
  run<T>(unitId: number, timeoutMs: number, transaction: (client: ModbusRTU) => Promise<T>): Promise<T> {
    const next = this.#queue.then(async () => {
      const client = await this.#ensureOpen();
      client.setID(unitId);
      client.setTimeout(timeoutMs);
      try {
        return await transaction(client);
      } catch (error) {
        // A port error (unplugged adapter, EIO) closes the client; a Modbus exception or timeout does not.
        if (!client.isOpen) this.#markFailed(error instanceof Error ? error.message : String(error));
        throw error;
      }
    });
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue;
    const client = this.#client;
    if (client?.isOpen) await new Promise<void>((resolve) => client.close(() => resolve()));
  }

  /** modbus-serial passes these on to node-serialport, the binding too (its typings omit it). */
  #portOptions(): SerialPortOptions {
    const s = this.#settings;
    const options = { baudRate: s.baudRate, dataBits: s.dataBits, parity: s.parity, stopBits: s.stopBits, binding: serialBinding };
    return options;
  }

  async #ensureOpen(): Promise<ModbusRTU> {
    const client = (this.#client ??= await modbusClient());
    if (client.isOpen) return client;
    if (this.#closed) throw new Error(`Modbus bus ${this.port} is closed`);
    if (Date.now() < this.#retryAt) throw new Error(`serial port ${this.port} unavailable (${this.#lastFailure}); retrying`);
    this.#opening ??= client
      .connectRTUBuffered(this.#settings.port, this.#portOptions())
      .then(
        () => {
          if (this.#lastFailure) this.#log.info({ event: 'modbus-bus-reopened', port: this.port }, `Modbus bus ${this.port} is open again`);
          this.#lastFailure = '';
          this.#retryMs = FIRST_RETRY_MS;
        },
        (error: Error) => {
          this.#markFailed(error.message);
          throw error;
        },
      )
      .finally(() => (this.#opening = undefined));
    await this.#opening;
    return client;
  }

  #markFailed(reason: string): void {
    if (reason !== this.#lastFailure) this.#log.warn({ event: 'modbus-bus-unavailable', port: this.port, reason }, `Modbus bus ${this.port}: ${reason}; retrying with backoff`);
    this.#lastFailure = reason;
    this.#retryAt = Date.now() + this.#retryMs;
    this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
  }
}
