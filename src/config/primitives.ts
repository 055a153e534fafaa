// Building blocks for every config section: human durations and sizes, secrets, TLS.
// Each section's schema lives beside the code it configures and is assembled in
// src/agent-config/schema.ts.
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

/** Where a secret in the config comes from: written inline, or named by a file or an environment variable. */
export type SecretReference = { inline: string } | { file: string } | { env: string };

/**
 * A secret taken from the config. It never prints itself: logs, errors, JSON and util.inspect
 * all show "[redacted]", so a secret cannot leak through a careless log line.
 *
 * Parsing only records where a {"file"} or {"env"} secret is; resolveSecrets() (src/config/resolve-secrets.ts)
 * reads it after validation, so checking a config (check-config, redaction, a cloud push) reads no file.
 */
export class Secret {
  readonly #value: string | undefined;
  readonly source: string;
  /** The {file} or {env} still to be read; undefined once the value is known (always, for an inline secret). */
  readonly pending: { file: string } | { env: string } | undefined;
  constructor(value: string, source: string);
  constructor(value: undefined, source: string, pending: { file: string } | { env: string });
  constructor(value: string | undefined, source: string, pending?: { file: string } | { env: string }) {
    this.#value = value;
    this.source = source;
    this.pending = value === undefined ? pending : undefined;
  }
  static of(reference: SecretReference): Secret {
    if ('inline' in reference) return new Secret(reference.inline, 'inline');
    return 'env' in reference ? new Secret(undefined, `env ${reference.env}`, reference) : new Secret(undefined, `file ${reference.file}`, reference);
  }
  /** Inline secrets only: a {file} or {env} secret has no value in the config itself. */
  get inline(): string | undefined {
    return this.source === 'inline' ? this.#value : undefined;
  }
  reveal(): string {
    // A programming error, not a config problem: every loader resolves secrets before handing the config on.
    if (this.#value === undefined) throw new Error(`the secret from ${this.source} was not resolved (the loader calls resolveSecrets after validation)`);
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

/**
 * A secret given inline, as {"file": "/path"} (trailing newline trimmed) or as {"env": "NAME"}.
 * Pure: it checks the shape and yields an unresolved Secret; resolveSecrets() reads it.
 */
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
    .transform((input) => Secret.of(typeof input === 'string' ? { inline: input } : input));
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
