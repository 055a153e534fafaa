// Structured logs: one JSON object per line on stdout, which journald stores as is.
import { pino } from 'pino';
import { echoUntrusted } from './untrusted-text.ts';

export type Logger = pino.Logger;
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** Field names that may hold secrets anywhere in a log object; Secret values also redact themselves. */
const SECRET_KEYS = ['password', 'sharedAccessKey', 'deviceSecret', 'productSecret', 'accessKey', 'access_key', 'token', 'sas', 'connectionString', 'key', 'secret', 'authorization'];

/**
 * Longest string a log line carries, in its message or any field. Log fields quote what came from
 * the network (command names, topics, cloud error texts); a call site that forgets to cut one must
 * not be able to write 128 KB lines, which pino's buffer and journald would then hold (issue #16).
 */
export const MAX_LOG_STRING_CHARS = 2048;
/** Arrays in a log object are cut to this many items, and objects deeper than this are summarised. */
const MAX_LOG_ITEMS = 50;
const MAX_LOG_DEPTH = 5;
/**
 * pino writes stdout asynchronously and buffers what the pipe does not take yet; when journald
 * falls behind a burst of lines, lines beyond this are dropped rather than kept in memory.
 */
const MAX_LOG_BUFFER_BYTES = 4 * 1024 * 1024;

export interface LoggerOptions {
  level?: LogLevel;
  destination?: pino.DestinationStream;
  /** Sees every error-level event (status keeps the last few for technicians). */
  onError?: (message: string, fields: Record<string, unknown>) => void;
  /** Sees every warning and error (the status page shows the last 50). */
  onProblem?: (level: 'warn' | 'error' | 'fatal', message: string, fields: Record<string, unknown>) => void;
}

export function createLogger({ level = 'info', destination = pino.destination({ fd: 1, sync: false, maxLength: MAX_LOG_BUFFER_BYTES }), onError, onProblem }: LoggerOptions = {}): Logger {
  return pino(
    {
      level,
      hooks: {
        logMethod(args, method, levelValue) {
          const [first, second] = args as unknown[];
          if ((onError && levelValue >= 50) || (onProblem && levelValue >= 40)) {
            const fields = typeof first === 'object' && first !== null ? (first as Record<string, unknown>) : {};
            const message = boundString(typeof first === 'string' ? first : typeof second === 'string' ? second : '');
            const bound = boundLogObject({ ...fields, ...(this.bindings() as Record<string, unknown>) });
            if (onError && levelValue >= 50) onError(message, bound);
            onProblem?.(levelValue >= 60 ? 'fatal' : levelValue >= 50 ? 'error' : 'warn', message, bound);
          }
          const index = typeof first === 'string' ? 0 : typeof second === 'string' ? 1 : -1;
          if (index >= 0 && (args[index] as string).length > MAX_LOG_STRING_CHARS) {
            const bounded = [...args] as unknown[];
            bounded[index] = boundString(args[index] as string);
            return method.apply(this, bounded as Parameters<typeof method>);
          }
          method.apply(this, args);
        },
      },
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: (object) => boundLogObject(object) },
      redact: { paths: [...SECRET_KEYS, ...SECRET_KEYS.map((key) => `*.${key}`), ...SECRET_KEYS.map((key) => `*.*.${key}`)], censor: '[redacted]' },
    },
    destination,
  );
}

function boundString(text: string): string {
  return echoUntrusted(text, MAX_LOG_STRING_CHARS);
}

/** The object with every long string cut, long arrays shortened and deep nesting summarised; the same object when nothing needed it. */
export function boundLogObject(object: Record<string, unknown>): Record<string, unknown> {
  return boundValue(object, 0) as Record<string, unknown>;
}

function boundValue(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return value.length > MAX_LOG_STRING_CHARS ? boundString(value) : value;
  if (typeof value !== 'object' || value === null) return value;
  if (Buffer.isBuffer(value)) return value.length > MAX_LOG_ITEMS ? `[${value.length} bytes]` : value;
  if (value instanceof Error) return boundError(value);
  if (depth >= MAX_LOG_DEPTH) return Array.isArray(value) ? `[array of ${value.length}]` : '[object]';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_LOG_ITEMS).map((item) => boundValue(item, depth + 1));
    if (value.length > MAX_LOG_ITEMS) items.push(`… ${value.length - MAX_LOG_ITEMS} more`);
    return value.length > MAX_LOG_ITEMS || items.some((item, i) => item !== value[i]) ? items : value;
  }
  // Class instances (Secret, Date, URL) render themselves (toJSON, redaction); only plain data is walked.
  const prototype = Object.getPrototypeOf(value) as unknown;
  if (prototype !== Object.prototype && prototype !== null) return value;
  let copy: Record<string, unknown> | undefined;
  for (const [key, item] of Object.entries(value)) {
    const bounded = boundValue(item, depth + 1);
    if (bounded !== item) (copy ??= { ...(value as Record<string, unknown>) })[key] = bounded;
  }
  return copy ?? value;
}

/** pino's err serializer reads message and stack: cut them, keep the type. */
function boundError(error: Error): Error {
  if (error.message.length <= MAX_LOG_STRING_CHARS && (error.stack?.length ?? 0) <= MAX_LOG_STRING_CHARS * 4) return error;
  const bounded = new Error(boundString(error.message));
  bounded.name = error.name;
  bounded.stack = error.stack === undefined ? undefined : echoUntrusted(error.stack, MAX_LOG_STRING_CHARS * 4);
  return bounded;
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
