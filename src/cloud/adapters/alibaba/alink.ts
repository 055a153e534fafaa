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
