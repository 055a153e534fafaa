// When the cloud sent a command, for the generic and Waylay formats, which let the sender say so:
// "timestamp" or "ts", epoch milliseconds or an ISO 8601 text. The dispatcher refuses a command
// older than commands.maxAge ("open the valve" must not run two hours after it was sent).

/** Earliest and latest timestamps believed: before 2000 or after 2100 is a unit mix-up (seconds) or garbage. */
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);
/** "2025-01-31T12:34:56.789+01:00" is 29 characters; anything much longer is not a timestamp. */
const MAX_ISO_CHARS = 40;

export const TIMESTAMP_FIELDS = ['timestamp', 'ts'] as const;

/** The command's send time, none when it carries no timestamp, or why the one it carries cannot be read. */
export function readSentAt(record: Record<string, unknown>): { sentAt?: number } | { error: string } {
  const field = TIMESTAMP_FIELDS.find((f) => record[f] !== undefined);
  if (field === undefined) return {};
  const raw = record[field];
  const at = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.length <= MAX_ISO_CHARS && /^\d{4}-\d{2}-\d{2}T/.test(raw) ? Date.parse(raw) : Number.NaN;
  if (!Number.isFinite(at) || at < EARLIEST || at > LATEST) {
    return { error: `expected "${field}" to be when the command was sent: epoch milliseconds or an ISO 8601 text such as "2025-01-31T12:00:00Z"` };
  }
  return { sentAt: Math.round(at) };
}
