// What a Waylay broker accepts as an event (the ResourceEvent schema of
// https://github.com/waylayio/waylay-sdk-data-py/blob/main/openapi/data.openapi.yaml; the 128 KB limit:
// https://docs.waylay.io/features/data_ingestion/mqtt/mqtt_broker_manager/): a JSON object
// {"resource": "<id>", "timestamp": <epoch ms or ISO 8601>, "<metric>": value, ...} or an array of them,
// at most 128 KB. Returns the parsed objects and every rule the payload breaks.

export const WAYLAY_PAYLOAD_LIMIT = 128 * 1024;

export interface PayloadCheck {
  objects: Record<string, unknown>[];
  problems: string[];
}

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/;

export function checkWaylayPayload(payload: Buffer, resourceId: string, limit = WAYLAY_PAYLOAD_LIMIT): PayloadCheck {
  if (payload.length > limit) return { objects: [], problems: [`payload is ${payload.length} bytes, over the ${limit}-byte limit`] };
  let body: unknown;
  try {
    body = JSON.parse(payload.toString('utf8'));
  } catch {
    return { objects: [], problems: ['payload is not JSON'] };
  }
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return { objects: [], problems: ['payload is an empty array'] };
  const objects: Record<string, unknown>[] = [];
  const problems: string[] = [];
  items.forEach((item, index) => {
    const where = Array.isArray(body) ? `item ${index}` : 'payload';
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      problems.push(`${where} is not a JSON object`);
      return;
    }
    const event = item as Record<string, unknown>;
    if (event.resource !== resourceId) problems.push(`${where}: "resource" is ${JSON.stringify(event.resource)}, expected "${resourceId}"`);
    const ts = event.timestamp;
    // Without a timestamp Waylay uses arrival time: allowed. Anything else must be a time.
    if (ts !== undefined) {
      const numeric = typeof ts === 'number' && Number.isFinite(ts) && ts > 0;
      const iso = typeof ts === 'string' && ISO_8601.test(ts) && !Number.isNaN(Date.parse(ts));
      if (!numeric && !iso) problems.push(`${where}: "timestamp" ${JSON.stringify(ts)} is neither epoch milliseconds nor an ISO 8601 time`);
    }
    objects.push(event);
  });
  return { objects, problems };
}
