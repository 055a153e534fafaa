/** Keys whose string values are secrets in a raw config. References ({"env"}, {"file"}) are not secrets and stay. */
const SECRET_KEY = /(password|secret|sharedaccesskey|accesskey|connectionstring|token)$/i;

/** The raw config as it may be shown to the cloud or a log: inline secrets replaced. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (Array.isArray(value)) return value.map((item) => redactConfig(item));
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, redactConfig(v, k)]));
  }
  return typeof value === 'string' && SECRET_KEY.test(key) ? '[redacted]' : value;
}
