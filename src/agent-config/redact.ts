// Beside the loader because it redacts against the root schema; the built-in commands receive it
// from the pipeline (BuiltinDependencies.redactConfig) rather than importing the schema of every
// adapter and source.
import { Secret } from '../config/primitives.ts';
import { checkConfigObject } from './load.ts';

/** Keys whose string values are treated as secrets in a config that does not validate. References ({"env"}, {"file"}) are not secrets and stay. */
const SECRET_KEY = /(password|secret|sharedaccesskey|accesskey|connectionstring|token|hardwarekey)$/i;

/**
 * The raw config as it may be shown to the cloud or a log: inline secrets replaced. Which fields are
 * secret comes from the schema (every field declared `secret()` parses to a Secret), so a new
 * secret field in a new adapter is redacted without anyone remembering to list it here. Only a
 * config that does not validate falls back to key names. No secret file or variable is read: only
 * inline values are in the raw config to be replaced.
 */
export function redactConfig(raw: unknown): unknown {
  let isSecret: (key: string, value: string) => boolean;
  try {
    const secrets = inlineSecrets(checkConfigObject(raw, 'config'));
    isSecret = (_key, value) => secrets.has(value);
  } catch {
    isSecret = (key) => SECRET_KEY.test(key);
  }
  return redact(raw, '', isSecret);
}

function redact(value: unknown, key: string, isSecret: (key: string, value: string) => boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, '', isSecret));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redact(v, k, isSecret)]));
  }
  if (typeof value !== 'string') return value;
  if (isSecret(key, value)) return '[redacted]';
  // A password typed into a URL (mqtt://user:password@host) is not a secret field, but it is a secret.
  return value.replace(URL_PASSWORD, '$1:[redacted]@');
}

const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:\s]*):[^/?#@\s]*@/i;

function inlineSecrets(value: unknown, found = new Set<string>()): Set<string> {
  if (value instanceof Secret) {
    if (value.inline !== undefined) found.add(value.inline);
  } else if (Array.isArray(value)) for (const item of value) inlineSecrets(item, found);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) inlineSecrets(item, found);
  return found;
}
