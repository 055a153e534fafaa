import { validateConfigObject } from '../config/load.ts';
import { Secret } from '../config/primitives.ts';

/** Keys whose string values are secrets even when the config does not validate. References ({"env"}, {"file"}) are not secrets and stay. */
const SECRET_KEY = /(password|secret|sharedaccesskey|accesskey|connectionstring|token|hardwarekey)$/i;

/**
 * The raw config as it may be shown to the cloud or a log: inline secrets replaced. Which fields are
 * secret comes from the schema (every field declared `secret()` parses to a Secret), so a new
 * secret field in a new adapter is redacted without anyone remembering to list it here.
 */
export function redactConfig(raw: unknown): unknown {
  let secrets = new Set<string>();
  try {
    secrets = secretValues(validateConfigObject(raw, 'config'));
  } catch {
    // A config that does not validate is redacted by key names alone.
  }
  return redact(raw, '', secrets);
}

function redact(value: unknown, key: string, secrets: Set<string>): unknown {
  if (Array.isArray(value)) return value.map((item) => redact(item, '', secrets));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redact(v, k, secrets)]));
  }
  return typeof value === 'string' && (SECRET_KEY.test(key) || secrets.has(value)) ? '[redacted]' : value;
}

function secretValues(value: unknown, found = new Set<string>()): Set<string> {
  if (value instanceof Secret) found.add(value.reveal());
  else if (Array.isArray(value)) for (const item of value) secretValues(item, found);
  else if (typeof value === 'object' && value !== null) for (const item of Object.values(value)) secretValues(item, found);
  return found;
}
