// Structured logs: one JSON object per line on stdout, which journald stores as is.
import { pino } from 'pino';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Field names that may hold secrets anywhere in a log object; Secret values also redact themselves. */
const SECRET_KEYS = ['password', 'sharedAccessKey', 'deviceSecret', 'productSecret', 'accessKey', 'access_key', 'token', 'sas', 'connectionString', 'key', 'secret', 'authorization'];

export interface LoggerOptions {
  level?: LogLevel;
  destination?: pino.DestinationStream;
  /** Sees every error-level event (status keeps the last few for technicians). */
  onError?: (message: string, fields: Record<string, unknown>) => void;
}

export function createLogger({ level = 'info', destination = pino.destination({ fd: 1, sync: false }), onError }: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      ...(onError
        ? {
            hooks: {
              logMethod(args, method, levelValue) {
                if (levelValue >= 50) {
                  const [first, second] = args as unknown[];
                  const fields = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
                  const message = typeof first === 'string' ? first : typeof second === 'string' ? second : '';
                  onError(message, { ...fields, ...(this.bindings() as Record<string, unknown>) });
                }
                method.apply(this, args);
              },
            },
          }
        : {}),
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`), ...SECRET_KEYS.map((key) => `*.*.${key}`)], censor: '[redacted]' },
    },
    destination,
  );
}

/** Logs an event at most once per window (serial garbage, drops): the first one, then a count of the rest. */
export class RateLimitedLog {
  readonly #windowMs: number;
  readonly #state = new Map<string, { until: number; suppressed: number }>();
  constructor(windowMs = 60_000) {
    this.#windowMs = windowMs;
  }
  /** Returns how many were suppressed since the last logged one, or -1 to stay silent now. */
  admit(key: string, now: number): number {
    const state = this.#state.get(key);
    if (state && now < state.until) {
      state.suppressed++;
      return -1;
    }
    const suppressed = state?.suppressed ?? 0;
    this.#state.set(key, { until: now + this.#windowMs, suppressed: 0 });
    return suppressed;
  }
}
