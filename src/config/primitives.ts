// Building blocks for every config section: human durations and sizes, secrets, TLS.
// Each section's schema lives beside the code it configures and is assembled in schema.ts.
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import bytes from 'bytes';
import ms from 'ms';
import { z } from 'zod';

export interface DurationBounds {
  min?: string;
  max?: string;
}

/** A duration written as a human string ("30s", "5m", "1h", "10ms"); parsed to milliseconds. */
export function duration(bounds: DurationBounds = {}) {
  const min = bounds.min === undefined ? undefined : ms(bounds.min as ms.StringValue);
  const max = bounds.max === undefined ? undefined : ms(bounds.max as ms.StringValue);
  const range = bounds.min && bounds.max ? ` between ${bounds.min} and ${bounds.max}` : bounds.min ? ` of at least ${bounds.min}` : bounds.max ? ` of at most ${bounds.max}` : '';
  return z
    .string({ error: `expected a duration such as "30s", "5m" or "1h"${range}` })
    .meta({ description: `A duration such as "500ms", "30s", "5m", "1h" or "30d"${range}.`, examples: ['30s'] })
    .transform((text, ctx) => {
      const value = /^\s*\d+(\.\d+)?\s*[a-zA-Z]*\s*$/.test(text) ? ms(text as ms.StringValue) : undefined;
      if (value === undefined || !Number.isFinite(value) || !/[a-zA-Z]/.test(text)) {
        ctx.addIssue({ code: 'custom', message: `expected a duration with a unit such as "30s", "5m" or "1h"${range}` });
        return z.NEVER;
      }
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
        ctx.addIssue({ code: 'custom', message: `expected a duration${range}` });
        return z.NEVER;
      }
      return value;
    });
}

/** A size written as a human string ("256MB", "64KB") or a whole number of bytes; parsed to bytes. */
export function size(bounds: { min?: string; max?: string } = {}) {
  const min = bounds.min === undefined ? undefined : (bytes.parse(bounds.min) ?? undefined);
  const max = bounds.max === undefined ? undefined : (bytes.parse(bounds.max) ?? undefined);
  const range = bounds.min && bounds.max ? ` between ${bounds.min} and ${bounds.max}` : bounds.min ? ` of at least ${bounds.min}` : bounds.max ? ` of at most ${bounds.max}` : '';
  return z
    .union([z.string(), z.int().nonnegative()], { error: `expected a size such as "256MB" or "64KB"${range}` })
    .meta({ description: `A size such as "64KB", "256MB" or "1GB" (1KB = 1024 bytes)${range}.`, examples: ['256MB'] })
    .transform((input, ctx) => {
      const value = typeof input === 'number' ? input : /^\s*\d+(\.\d+)?\s*(b|kb|mb|gb|tb)?\s*$/i.test(input) ? bytes.parse(input) : null;
      if (value === null || !Number.isFinite(value)) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as "256MB" or "64KB"${range}` });
        return z.NEVER;
      }
      if ((min !== undefined && value < min) || (max !== undefined && value > max)) {
        ctx.addIssue({ code: 'custom', message: `expected a size${range}` });
        return z.NEVER;
      }
      return value;
    });
}

/**
 * A secret taken from the config. It never prints itself: logs, errors, JSON and util.inspect
 * all show "[redacted]", so a secret cannot leak through a careless log line.
 */
export class Secret {
  readonly #value: string;
  readonly source: string;
  constructor(value: string, source: string) {
    this.#value = value;
    this.source = source;
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return `Secret(${this.source})`;
  }
}

/** A secret given inline, as {"file": "/path"} (trailing newline trimmed) or as {"env": "NAME"}. */
export function secret() {
  return z
    .union(
      [
        z.string().min(1),
        z.strictObject({ file: z.string().min(1) }),
        z.strictObject({ env: z.string().min(1) }),
      ],
      { error: 'expected a secret: a string, {"file": "/path/to/file"} or {"env": "VARIABLE"}' },
    )
    .meta({ description: 'A secret: inline, {"file": "/path"} (read at start, trailing newline removed) or {"env": "NAME"}.' })
    .transform((input, ctx) => {
      if (typeof input === 'string') return new Secret(input, 'inline');
      if ('env' in input) {
        const value = process.env[input.env];
        if (value === undefined || value === '') {
          ctx.addIssue({ code: 'custom', message: `expected environment variable ${input.env} to hold the secret, found it unset or empty` });
          return z.NEVER;
        }
        return new Secret(value, `env ${input.env}`);
      }
      try {
        const value = readFileSync(input.file, 'utf8').replace(/\r?\n$/, '');
        if (value === '') {
          ctx.addIssue({ code: 'custom', message: `expected the secret in ${input.file}, found an empty file` });
          return z.NEVER;
        }
        return new Secret(value, `file ${input.file}`);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `expected a readable secret file, found ${(err as NodeJS.ErrnoException).code ?? 'an error'} reading ${input.file}` });
        return z.NEVER;
      }
    });
}

/** A PEM file path; read when used, so the config stays cheap to load. */
const pemPath = z.string().min(1).meta({ description: 'Path to a PEM file.' });

export const tlsSchema = z
  .strictObject({
    ca: pemPath.optional().meta({ description: 'CA bundle that signs the server certificate (PEM path). Default: the system store.' }),
    cert: pemPath.optional().meta({ description: 'Client certificate (PEM path).' }),
    key: pemPath.optional().meta({ description: 'Client private key (PEM path).' }),
    rejectUnauthorized: z
      .boolean()
      .default(true)
      .meta({ description: 'Verify the server certificate. Only set false on a test bench: it allows anyone on the path to read and change traffic.' }),
  })
  .meta({ description: 'TLS settings for the cloud connection.' });

export type TlsConfig = z.output<typeof tlsSchema>;

export const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']);
