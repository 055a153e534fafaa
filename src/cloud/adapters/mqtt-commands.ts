// The generic adapter's command format:
//   request  {"id": "42", "name": "ping", "params": {...}, "timestamp"?: <ms or ISO 8601>}   on the commands topic
//   reply    {"id": "42", "ok": true, "status": 200, "data": {...}}       on the replies topic,
//            or {"id": "42", "ok": false, "status": 404, "error": "..."}
// With MQTT 5, a request's responseTopic and correlationData take precedence over the replies topic.
import { COMMAND_LIMITS, type Command, type CommandResult } from '../../commands/command.ts';
import { echoUntrusted } from '../../untrusted-text.ts';
import type { IncomingAction } from '../adapter.ts';
import { INCOMING_JSON_BOUNDS, parseBoundedJson, type JsonBounds } from '../bounded-json.ts';
import type { IncomingMessage, OutgoingMessage } from '../message.ts';
import { readSentAt } from './command-timestamp.ts';

export interface ReplyAddress {
  topic: string;
  correlationData?: Buffer;
}

export function decodeCommandJson(message: IncomingMessage, origin: string, defaultReplyTopic: string, bounds: JsonBounds = INCOMING_JSON_BOUNDS): IncomingAction<ReplyAddress>[] {
  const replyTo: ReplyAddress = {
    topic: message.properties?.responseTopic ?? defaultReplyTopic,
    ...(message.properties?.correlationData ? { correlationData: message.properties.correlationData } : {}),
  };
  const parsed = parseBoundedJson(message.payload, bounds);
  if (!parsed.ok) return [invalid(replyTo, null, parsed.problem === 'syntax' ? 'the command is not valid JSON' : parsed.reason)];
  const body = parsed.value;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return [invalid(replyTo, null, 'expected a JSON object {"id", "name", "params"}')];
  const record = body as Record<string, unknown>;
  const id = typeof record.id === 'string' || typeof record.id === 'number' ? String(record.id).slice(0, COMMAND_LIMITS.idChars) : null;
  // An empty id would make every id-less command a replay of the first (the dispatcher dedupes by id).
  if (id === null || id === '') return [invalid(replyTo, null, 'expected "id" (a non-empty string or a number)')];
  if (typeof record.name !== 'string' || record.name === '') return [invalid(replyTo, id, 'expected "name" (the command to run)')];
  if (record.name.length > COMMAND_LIMITS.nameChars) return [invalid(replyTo, id, `the command name "${echoUntrusted(record.name)}" is longer than ${COMMAND_LIMITS.nameChars} characters`)];
  const sent = readSentAt(record);
  if ('error' in sent) return [invalid(replyTo, id, sent.error)];
  const command: Command<ReplyAddress> = { id, name: record.name, params: record.params ?? {}, origin, replyTo, ...sent };
  return [{ kind: 'command', command }];
}

export function encodeCommandReply(command: Command<ReplyAddress>, result: CommandResult): OutgoingMessage[] {
  const address = command.replyTo;
  return [replyMessage(address, { id: command.id, ...resultBody(result) })];
}

function resultBody(result: CommandResult) {
  return result.ok ? { ok: true, status: result.status, data: result.data ?? null } : { ok: false, status: result.status, error: result.message ?? 'failed', ...(result.data === undefined ? {} : { data: result.data }) };
}

function invalid(address: ReplyAddress, id: string | null, reason: string): IncomingAction<ReplyAddress> {
  return { kind: 'reply', reason, messages: [replyMessage(address, { id, ok: false, status: 400, error: reason })] };
}

function replyMessage(address: ReplyAddress, body: unknown): OutgoingMessage {
  return {
    topic: address.topic,
    payload: JSON.stringify(body),
    qos: 1,
    ...(address.correlationData ? { properties: { correlationData: address.correlationData, contentType: 'application/json' } } : {}),
  };
}
