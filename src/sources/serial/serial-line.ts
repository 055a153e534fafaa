// A sensor that writes lines of text on a serial port: JSON objects, CSV, key=value or anything a
// regex with named groups can read. Optionally polled: a request string sent on a schedule, with
// a response timeout.
import { schedule as cronSchedule, type ScheduledTask } from 'node-cron';
import { validate as validateCron } from 'node-cron';
import { z } from 'zod';
import { duration } from '../../config/primitives.ts';
import { RateLimitedLog } from '../../log.ts';
import type { Reading } from '../reading.ts';
import { sensorCommonFields } from '../sensor-fields.ts';
import { emptySensorStats, type Source, type SourceType } from '../source.ts';
import { applyFields, createDecoder, type Decoded } from './line-decoders.ts';
import { LineSplitter } from './line-splitter.ts';
import { SerialConnection } from './serial-connection.ts';
import { serialPortFields } from './serial-config.ts';

/** Config strings are JSON: "\n" is a newline already; also accept the escaped spelling technicians type. */
const unescape = (text: string) => text.replace(/\\r/g, '\r').replace(/\\n/g, '\n').replace(/\\t/g, '\t');

const regexPattern = z.string().refine((p) => {
  try {
    return /\(\?<[A-Za-z_]\w*>/.test(p) && new RegExp(p) instanceof RegExp;
  } catch {
    return false;
  }
}, 'expected a valid regular expression with named groups, e.g. "T=(?<t>[-0-9.]+)"');

const fieldSchema = z.strictObject({
  type: z.enum(['number', 'integer', 'string', 'boolean']).default('number'),
  scale: z.number().optional(),
  offset: z.number().optional(),
  unit: z.string().optional().meta({ description: 'Documentation of the unit (e.g. "°C"); shown in check-config.' }),
  from: z.string().optional().meta({ description: 'The decoded name to read, when it differs from this field name.' }),
});

const configSchema = z
  .strictObject({
    ...sensorCommonFields,
    type: z.literal('serial-line'),
    ...serialPortFields,
    delimiter: z.string().min(1).default('\n').meta({ description: 'End of a line; "\\r\\n" for CRLF devices.' }),
    maxLineLength: z.int().min(16).max(1_048_576).default(4096).meta({ description: 'Longer lines are dropped and counted.' }),
    decoder: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('json') }),
      z.strictObject({ type: z.literal('csv'), columns: z.array(z.string()).min(1).meta({ description: 'Names of the columns in order; "_" skips one.' }), separator: z.string().min(1).default(',') }),
      z.strictObject({ type: z.literal('kv'), separator: z.string().min(1).default('=') }),
      z.strictObject({ type: z.literal('regex'), pattern: regexPattern }),
    ], { error: 'expected "decoder": {"type": "json"}, {"type": "csv", "columns": [...]}, {"type": "kv"} or {"type": "regex", "pattern": "..."}' }),
    fields: z.record(z.string(), fieldSchema).optional().meta({ description: 'Per field: type, scale, offset, unit. Without it every decoded value is kept (numbers recognized).' }),
    request: z
      .strictObject({
        text: z.string().min(1).meta({ description: 'Sent to poll the sensor, e.g. "READ\\r\\n".' }),
        interval: duration({ min: '100ms' }).optional(),
        schedule: z.string().refine((e) => validateCron(e), 'expected a cron expression with seconds, e.g. "*/10 * * * * *"').optional(),
        timeout: duration({ min: '10ms', max: '1m' }).prefault('2s').meta({ description: 'No answer within this counts as an error.' }),
      })
      .refine((r) => (r.interval === undefined) !== (r.schedule === undefined), 'give exactly one of "interval" or "schedule"')
      .optional()
      .meta({ description: 'For poll-style sensors: what to send and when.' }),
  })
  .meta({ title: 'Serial line sensor (JSON, CSV, key=value or regex per line)' });

type SerialLineConfig = z.output<typeof configSchema>;

export const serialLineSource: SourceType<typeof configSchema> = {
  type: 'serial-line',
  configSchema,
  create: (config, ctx) => new SerialLineSource(config, ctx),
};

class SerialLineSource implements Source {
  readonly id: string;
  readonly type = 'serial-line';
  readonly #config: SerialLineConfig;
  readonly #ctx: Parameters<SourceType['create']>[1];
  readonly #stats = emptySensorStats();
  readonly #splitter: LineSplitter;
  readonly #decode: (line: string) => Decoded;
  readonly #connection: SerialConnection;
  readonly #rateLimited = new RateLimitedLog(60_000);
  readonly #utf8 = new TextDecoder('utf-8', { fatal: true });
  #pollTimer: NodeJS.Timeout | undefined;
  #cron: ScheduledTask | undefined;
  #awaiting: { timer: NodeJS.Timeout; resolve: (r: Reading[]) => void; reject: (e: Error) => void } | undefined;
  #answer: Promise<Reading[]> | undefined;

  constructor(config: SerialLineConfig, ctx: Parameters<SourceType['create']>[1]) {
    this.id = config.id;
    this.#config = config;
    this.#ctx = ctx;
    this.#splitter = new LineSplitter(Buffer.from(unescape(config.delimiter)), config.maxLineLength);
    this.#decode = createDecoder(config.decoder);
    this.#connection = new SerialConnection(config, ctx.log, {
      data: (chunk) => this.#onData(chunk),
      opened: () => undefined,
      lost: (reason) => {
        this.#splitter.reset();
        this.#ioError(reason);
      },
    });
  }

  start(): Promise<void> {
    this.#connection.start();
    const request = this.#config.request;
    if (request?.interval !== undefined) this.#pollTimer = setInterval(() => void this.readNow().catch(() => undefined), request.interval);
    if (request?.schedule !== undefined) this.#cron = cronSchedule(request.schedule, () => void this.readNow().catch(() => undefined), { name: `poll-${this.id}`, noOverlap: true });
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    clearInterval(this.#pollTimer);
    await this.#cron?.stop();
    await this.#connection.stop();
  }

  stats() {
    return this.#stats;
  }

  write(data: Buffer): Promise<void> {
    return this.#connection.write(data);
  }

  /** Sends the request (poll-style sensors) and resolves with the answer; streaming sensors answer with their next line. */
  readNow(): Promise<Reading[]> {
    // A poll already out: share its answer rather than talk over it on the wire.
    if (this.#awaiting && this.#answer) return this.#answer;
    const timeoutMs = this.#config.request?.timeout ?? 2000;
    const answer = new Promise<Reading[]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#awaiting = undefined;
        this.#ioError(`no answer within ${timeoutMs} ms`);
        reject(new Error(`sensor ${this.id} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#awaiting = { timer, resolve, reject };
    });
    if (this.#config.request) {
      this.#connection.write(Buffer.from(unescape(this.#config.request.text))).catch((error: Error) => {
        const awaiting = this.#awaiting;
        if (!awaiting) return;
        clearTimeout(awaiting.timer);
        this.#awaiting = undefined;
        this.#ioError(error.message);
        awaiting.reject(error);
      });
    }
    this.#answer = answer;
    return answer;
  }

  #onData(chunk: Buffer): void {
    const { lines, overlong } = this.#splitter.push(chunk);
    if (overlong > 0) this.#parseError(`line longer than ${this.#config.maxLineLength} bytes dropped`, overlong);
    for (const bytes of lines) this.#onLine(bytes);
  }

  #onLine(bytes: Buffer): void {
    let text: string;
    try {
      text = this.#utf8.decode(bytes).replace(/\r$/, '');
    } catch {
      this.#parseError('bytes that are not UTF-8 (wrong baud rate or parity?)');
      return;
    }
    if (text.trim() === '') return;
    const decoded = this.#decode(text);
    const typed = decoded.ok ? applyFields(decoded.values, this.#config.fields) : decoded;
    if (!typed.ok) {
      this.#parseError(`${typed.reason}: ${JSON.stringify(text.slice(0, 80))}`);
      return;
    }
    if (Object.keys(typed.values).length === 0) {
      this.#parseError(`no configured field in: ${JSON.stringify(text.slice(0, 80))}`);
      return;
    }
    const now = this.#ctx.now();
    const reading: Reading = { sensorId: this.id, ts: now, values: typed.values, ...(this.#ctx.clockSynchronized() ? {} : { clockUnsynced: true }) };
    this.#stats.readings++;
    this.#stats.lastReadingAt = now;
    this.#ctx.emit(reading);
    if (this.#awaiting) {
      clearTimeout(this.#awaiting.timer);
      const { resolve } = this.#awaiting;
      this.#awaiting = undefined;
      resolve([reading]);
    }
  }

  #parseError(reason: string, count = 1): void {
    this.#stats.parseErrors += count;
    this.#stats.lastError = reason;
    this.#stats.lastErrorAt = this.#ctx.now();
    const suppressed = this.#rateLimited.admit('parse', this.#ctx.now());
    if (suppressed >= 0) this.#ctx.log.warn({ event: 'sensor-parse-error', reason, suppressedSinceLast: suppressed }, `sensor ${this.id}: ${reason}`);
  }

  #ioError(reason: string): void {
    this.#stats.ioErrors++;
    this.#stats.lastError = reason;
    this.#stats.lastErrorAt = this.#ctx.now();
  }
}
