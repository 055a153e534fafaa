// Alink JSON (Alibaba "Alink protocol", doc 89301): requests {id, version, params, method}, replies
// {id, code, data}. `id` is a decimal string unique per device per day; readings use their seq so a
// redelivered reading keeps its id.
import { COMMAND_LIMITS } from '../../../commands/command.ts';
import type { TelemetryRecord } from '../../adapter.ts';
import { parseBoundedJson } from '../../bounded-json.ts';

/** Thing-model identifiers allow letters, digits and underscores: `<sensor>_<field>`, anything else as "_". */
export function propertyIdentifier(sensorId: string, field: string): string {
  return `${sensorId}_${field}`.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 50);
}

export function propertyPost(record: TelemetryRecord, method: 'thing.event.property.post' | 'thing.event.property.history.post'): string {
  const params: Record<string, { value: unknown; time: number }> = {};
  for (const [field, value] of Object.entries(record.values)) {
    if (value === null) continue;
    params[propertyIdentifier(record.sensorId, field)] = { value, time: record.ts };
  }
  return JSON.stringify({ id: String(record.seq), version: '1.0', params, method });
}

/**
 * thing.event.property.batch.post: many readings in one message, each value with its own time
 * (help.aliyun.com, "设备批量上报属性、事件"): params {"properties": {"<id>": [{"value", "time"}, ...]}}.
 * The id is the first reading's seq followed by the count (5 digits): a decimal string that a
 * redelivery of the same readings repeats and no other batch uses.
 */
export function propertyBatchPosts(records: TelemetryRecord[], maxBytes: number): { payloads: string[]; rejected: { record: TelemetryRecord; reason: string }[] } {
  const payloads: string[] = [];
  const rejected: { record: TelemetryRecord; reason: string }[] = [];
  // Room for the envelope ({"id":…,"version":"1.0","params":{"properties":{}},"method":…}).
  const budget = maxBytes - 160;
  let properties = new Map<string, string[]>();
  let first = 0;
  let count = 0;
  let bytes = 0;
  const flush = () => {
    if (count === 0) return;
    const body = [...properties].map(([id, values]) => `${JSON.stringify(id)}:[${values.join(',')}]`).join(',');
    payloads.push(`{"id":"${first}${String(count).padStart(5, '0')}","version":"1.0","params":{"properties":{${body}}},"method":"thing.event.property.batch.post"}`);
    properties = new Map();
    count = 0;
    bytes = 0;
  };
  for (const record of records) {
    const entries: [string, string][] = [];
    let cost = 0;
    for (const [field, value] of Object.entries(record.values)) {
      if (value === null) continue;
      const id = propertyIdentifier(record.sensorId, field);
      const item = `{"value":${JSON.stringify(value)},"time":${record.ts}}`;
      entries.push([id, item]);
      // The id counted every time: an upper bound, whichever message the reading lands in. UTF-8 bytes, not characters.
      cost += Buffer.byteLength(item) + 1 + Buffer.byteLength(id) + 6;
    }
    if (cost > budget) {
      rejected.push({ record, reason: `reading is about ${cost} bytes as a batch post, over the ${maxBytes}-byte limit` });
      continue;
    }
    if (bytes + cost > budget) flush();
    if (count === 0) first = record.seq;
    for (const [id, item] of entries) {
      const values = properties.get(id);
      if (values) values.push(item);
      else properties.set(id, [item]);
    }
    count++;
    bytes += cost;
  }
  flush();
  return { payloads, rejected };
}

/**
 * A service identifier becomes a command name: the first "_" reads as ".", so `config_get` runs
 * `config.get`, `sensor_read` runs `sensor.read` and `script_reset_modem` runs `script.reset_modem`.
 */
export function commandNameOf(identifier: string): string {
  return identifier.replace('_', '.');
}

export function alinkReply(id: string, code: number, data: unknown, message?: string): string {
  return JSON.stringify({ id, code, data: data ?? {}, ...(message ? { message } : {}) });
}

export interface AlinkRequest {
  id: string;
  method?: string;
  params: unknown;
}

export function parseAlinkRequest(payload: Buffer): AlinkRequest | { error: string; id?: string } {
  const parsed = parseBoundedJson(payload);
  if (!parsed.ok) return { error: parsed.problem === 'syntax' ? 'not valid JSON' : parsed.reason };
  const body = parsed.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'expected an Alink JSON object' };
  const record = body as Record<string, unknown>;
  const id = typeof record.id === 'string' || typeof record.id === 'number' ? String(record.id) : undefined;
  if (id === undefined || id === '') return { error: 'expected "id"' };
  // Alink ids are decimal strings; a longer one is not echoed back.
  if (id.length > COMMAND_LIMITS.idChars) return { error: `expected "id" of at most ${COMMAND_LIMITS.idChars} characters` };
  return { id, params: record.params ?? {}, ...(typeof record.method === 'string' ? { method: record.method } : {}) };
}
