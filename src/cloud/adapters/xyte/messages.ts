// Xyte's message shapes (dev.xyte.io, "MQTT events"): telemetry with flat keys, command status updates,
// config echoes. Pure functions; the adapter decides topics and timing.
import { COMMAND_LIMITS, type CommandResult } from '../../../commands/command.ts';
import type { TelemetryRecord } from '../../adapter.ts';
import { parseBoundedJson } from '../../bounded-json.ts';

/** Command status messages are short texts in Xyte's portal; a long result is cut here. */
const MAX_STATUS_MESSAGE_CHARS = 4000;

export interface XyteTelemetryBody {
  status: 'online' | 'offline' | 'error';
  timestamp?: string;
  telemetries: Record<string, string | number | boolean>;
  message?: string;
}

/**
 * One reading as `{status, timestamp, telemetries: {"<sensor>.<field>": value}}`. A reading taken
 * before the clock was set goes without a timestamp (Xyte then uses arrival time, nearer the truth
 * than 1970). Null and non-finite values are left out: Xyte would show them as a measurement.
 */
export function telemetryBody(record: TelemetryRecord): XyteTelemetryBody {
  const telemetries: Record<string, string | number | boolean> = {};
  for (const [field, value] of Object.entries(record.values)) {
    if (value === null || (typeof value === 'number' && !Number.isFinite(value))) continue;
    telemetries[`${record.sensorId}.${field}`] = value;
  }
  return { status: 'online', ...(record.clockUnsynced ? {} : { timestamp: new Date(record.ts).toISOString() }), telemetries };
}

export interface XyteCommandRequest {
  id: string;
  name: string;
  parameters: unknown;
}

/** A command body `{id, status: "pending", name, parameters}`, or why it cannot be run (with the id when there is one, to answer). */
export function parseCommand(payload: Buffer): XyteCommandRequest | { error: string; id?: string } {
  const parsed = parseBoundedJson(payload);
  if (!parsed.ok) return { error: parsed.problem === 'syntax' ? 'the command is not JSON' : `the command is refused: ${parsed.reason}` };
  const body = parsed.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'the command is not a JSON object' };
  const { id, name, parameters } = body as Record<string, unknown>;
  const commandId = typeof id === 'string' && id !== '' ? id : typeof id === 'number' ? String(id) : undefined;
  if (commandId === undefined) return { error: 'the command has no "id"' };
  // The id is echoed in every status update: a longer one is not answered at all.
  if (commandId.length > COMMAND_LIMITS.idChars) return { error: `the command "id" is longer than ${COMMAND_LIMITS.idChars} characters` };
  if (typeof name !== 'string' || name === '') return { error: 'the command has no "name"', id: commandId };
  if (name.length > COMMAND_LIMITS.nameChars) return { error: `the command "name" is longer than ${COMMAND_LIMITS.nameChars} characters`, id: commandId };
  return { id: commandId, name, parameters: parameters ?? {} };
}

export function commandStatusBody(id: string, status: 'in_progress' | 'done' | 'failed', message?: string): string {
  return JSON.stringify({ id, status, ...(message !== undefined ? { message: truncate(message) } : {}) });
}

/** A result in the one text field Xyte shows: the data as JSON for success, the reason for failure. */
export function resultMessage(result: CommandResult): string {
  if (!result.ok) return result.message ?? `failed (${result.status})`;
  if (result.data === undefined) return 'ok';
  return typeof result.data === 'string' ? result.data : JSON.stringify(result.data);
}

function truncate(text: string): string {
  return text.length <= MAX_STATUS_MESSAGE_CHARS ? text : `${text.slice(0, MAX_STATUS_MESSAGE_CHARS - 14)}… (truncated)`;
}

export interface XyteConfigPush {
  version: number;
  body: Record<string, unknown>;
}

export function parseConfigPush(payload: Buffer): XyteConfigPush | { error: string } {
  const parsed = parseBoundedJson(payload);
  if (!parsed.ok) return { error: parsed.problem === 'syntax' ? 'the config push is not JSON' : `the config push is refused: ${parsed.reason}` };
  const body = parsed.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: 'the config push is not a JSON object' };
  const version = (body as Record<string, unknown>).version;
  if (typeof version !== 'number' || !Number.isFinite(version)) return { error: 'the config push has no numeric "version"' };
  return { version, body: body as Record<string, unknown> };
}
