// A Modbus RTU slave polled on a schedule over a shared RS-485 bus. Exceptions and timeouts are
// counted per slave and reported; they never stop the agent or the other slaves on the bus.
import { schedule as cronSchedule, validate as validateCron, type ScheduledTask } from 'node-cron';
import { z } from 'zod';
import { duration } from '../../config/primitives.ts';
import { RateLimitedLog } from '../../log.ts';
import type { FieldValue, Reading } from '../reading.ts';
import { sensorCommonFields } from '../sensor-fields.ts';
import { serialPortFields } from '../serial/serial-config.ts';
import { emptySensorStats, type ModbusWriteRequest, type Source, type SourceContext, type SourceType } from '../source.ts';
import { acquireBus, releaseBus, type ModbusBus } from './modbus-bus.ts';
import { decodeRegister, planReads, type ReadPlan, type RegisterSpec } from './register-codec.ts';

const registerSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/, 'expected a field name of letters, digits, "_", "." or "-"'),
  function: z.enum(['coils', 'discrete', 'holding', 'input']).meta({ description: 'coils (FC1), discrete inputs (FC2), holding registers (FC3) or input registers (FC4).' }),
  address: z.int().min(0).max(65535).meta({ description: 'Zero-based register address (40001 in a datasheet is holding address 0).' }),
  type: z.enum(['int16', 'uint16', 'int32', 'uint32', 'float32', 'float64', 'bool']).default('uint16'),
  wordOrder: z.enum(['big', 'little']).default('big').meta({ description: 'For 32/64-bit values: "big" = high word first (Modicon), "little" = low word first (word-swapped).' }),
  byteOrder: z.enum(['big', 'little']).default('big').meta({ description: 'Byte order inside each 16-bit word; "little" for devices that swap bytes.' }),
  scale: z.number().optional(),
  offset: z.number().optional(),
  unit: z.string().optional(),
});

const configSchema = z
  .strictObject({
    ...sensorCommonFields,
    type: z.literal('modbus-rtu'),
    ...serialPortFields,
    unitId: z.int().min(1).max(247).meta({ description: 'Slave address on the bus. Sensors with the same port share one bus; requests on it go one at a time.' }),
    interval: duration({ min: '100ms' }).optional(),
    schedule: z.string().refine((e) => validateCron(e), 'expected a cron expression with seconds, e.g. "*/10 * * * * *"').optional(),
    timeout: duration({ min: '20ms', max: '30s' }).prefault('1s').meta({ description: 'Per request.' }),
    retries: z.int().min(0).max(5).default(1),
    registers: z.array(registerSchema).min(1),
  })
  .refine((c) => (c.interval === undefined) !== (c.schedule === undefined), { message: 'give exactly one of "interval" or "schedule"', path: ['interval'] })
  .meta({ title: 'Modbus RTU slave on an RS-485 bus' });

type ModbusConfig = z.output<typeof configSchema>;

export const modbusRtuSource: SourceType<typeof configSchema> = {
  type: 'modbus-rtu',
  configSchema,
  create: (config, ctx) => new ModbusRtuSource(config, ctx),
};

class ModbusRtuSource implements Source {
  readonly id: string;
  readonly type = 'modbus-rtu';
  readonly #config: ModbusConfig;
  readonly #ctx: SourceContext;
  readonly #plans: ReadPlan[];
  readonly #stats = emptySensorStats();
  readonly #rateLimited = new RateLimitedLog(60_000);
  #bus: ModbusBus | undefined;
  #timer: NodeJS.Timeout | undefined;
  #cron: ScheduledTask | undefined;
  #polling = false;

  constructor(config: ModbusConfig, ctx: SourceContext) {
    this.id = config.id;
    this.#config = config;
    this.#ctx = ctx;
    const specs: RegisterSpec[] = config.registers.map((r) => ({ name: r.name, table: r.function, address: r.address, type: r.type, wordOrder: r.wordOrder, byteOrder: r.byteOrder, scale: r.scale, offset: r.offset }));
    this.#plans = planReads(specs);
    this.#stats.extra = { [`unit${config.unitId}.exceptions`]: 0, [`unit${config.unitId}.timeouts`]: 0, requests: 0 };
  }

  start(): Promise<void> {
    this.#bus = acquireBus(this.#config, this.#ctx.log);
    const poll = () => void this.readNow().catch(() => undefined);
    if (this.#config.interval !== undefined) this.#timer = setInterval(poll, this.#config.interval);
    else this.#cron = cronSchedule(this.#config.schedule!, poll, { name: `modbus-${this.id}`, noOverlap: true });
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#cron?.stop();
    if (this.#bus) await releaseBus(this.#bus);
    this.#bus = undefined;
  }

  stats() {
    return this.#stats;
  }

  async readNow(): Promise<Reading[]> {
    const bus = this.#bus;
    if (!bus) throw new Error(`sensor ${this.id} is not running`);
    // A slow slave must not stack polls up behind itself on the bus.
    if (this.#polling) return [];
    this.#polling = true;
    try {
      const values: Record<string, FieldValue> = {};
      for (const plan of this.#plans) {
        const words = await this.#request(bus, plan);
        if (!words) continue;
        for (const register of plan.registers) values[register.name] = decodeRegister(register, plan, words);
      }
      if (Object.keys(values).length === 0) return [];
      const now = this.#ctx.now();
      const reading: Reading = { sensorId: this.id, ts: now, values, ...(this.#ctx.clockSynchronized() ? {} : { clockUnsynced: true }) };
      this.#stats.readings++;
      this.#stats.lastReadingAt = now;
      this.#ctx.emit(reading);
      return [reading];
    } finally {
      this.#polling = false;
    }
  }

  writeModbus(request: ModbusWriteRequest): Promise<void> {
    const bus = this.#bus;
    if (!bus) return Promise.reject(new Error(`sensor ${this.id} is not running`));
    const unitId = request.unitId ?? this.#config.unitId;
    return bus.run(unitId, this.#config.timeout, async (client) => {
      if (request.table === 'coils') await client.writeCoils(request.address, request.values as boolean[]);
      else await client.writeRegisters(request.address, request.values as number[]);
    });
  }

  async #request(bus: ModbusBus, plan: ReadPlan): Promise<number[] | boolean[] | undefined> {
    const unit = this.#config.unitId;
    for (let attempt = 0; attempt <= this.#config.retries; attempt++) {
      this.#stats.extra!.requests!++;
      try {
        return await bus.run(unit, this.#config.timeout, async (client) => {
          switch (plan.table) {
            case 'coils':
              return (await client.readCoils(plan.address, plan.count)).data.slice(0, plan.count);
            case 'discrete':
              return (await client.readDiscreteInputs(plan.address, plan.count)).data.slice(0, plan.count);
            case 'holding':
              return (await client.readHoldingRegisters(plan.address, plan.count)).data;
            case 'input':
              return (await client.readInputRegisters(plan.address, plan.count)).data;
          }
        });
      } catch (error) {
        const e = error as Error & { modbusCode?: number; errno?: string };
        if (e.modbusCode !== undefined) {
          // An exception is the slave's answer: retrying will not change it.
          this.#fail(`unit${unit}.exceptions`, `unit ${unit} answered exception ${e.modbusCode} (${e.message}) reading ${plan.table} ${plan.address}+${plan.count}`);
          return undefined;
        }
        if (attempt === this.#config.retries) {
          const timedOut = e.errno === 'ETIMEDOUT' || /timed out/i.test(e.message);
          this.#fail(timedOut ? `unit${unit}.timeouts` : 'ioErrors', timedOut ? `unit ${unit} did not answer within ${this.#config.timeout} ms (${plan.table} ${plan.address})` : e.message);
        }
      }
    }
    return undefined;
  }

  #fail(counter: string, reason: string): void {
    this.#stats.ioErrors++;
    if (counter !== 'ioErrors') this.#stats.extra![counter] = (this.#stats.extra![counter] ?? 0) + 1;
    this.#stats.lastError = reason;
    this.#stats.lastErrorAt = this.#ctx.now();
    const suppressed = this.#rateLimited.admit(counter, this.#ctx.now());
    if (suppressed >= 0) this.#ctx.log.warn({ event: 'modbus-error', reason, suppressedSinceLast: suppressed }, `sensor ${this.id}: ${reason}`);
  }
}
