// Waylay commands. Waylay has no reply topic: a command is arbitrary JSON published on the
// device's commands topic, and its outcome goes back as an ordinary event on the events/data
// topic (Waylay documentation, "Broker and Storage" and "MQTT Broker Manager": a device has an
// events or data topic and a commands topic, nothing more). So every answer is
//   {"resource": "<id>", "timestamp": <ms>, "commandId": "<id>", "command": "<name>", "status": "ok"|"error", "result": ...}
// with "result" the command's data on success, or {"code", "message", "data"?} on failure.
// A message that cannot be read as a command is answered the same way with status "error"
// (and without commandId when none could be found): the operator watching the resource sees why.
// A command may say when it was sent ("timestamp" or "ts": epoch ms or ISO 8601): one older than
// commands.maxAge is refused instead of run late.
import { COMMAND_LIMITS, type Command, type CommandResult } from '../../../commands/command.ts';
import type { IncomingAction } from '../../adapter.ts';
import { INCOMING_JSON_BOUNDS, parseBoundedJson, type JsonBounds } from '../../bounded-json.ts';
import type { OutgoingMessage } from '../../message.ts';
import { readSentAt, TIMESTAMP_FIELDS } from '../command-timestamp.ts';

/** Which JSON fields hold the command's name, arguments and id; the first one present wins. */
export interface CommandFields {
  name: string[];
  args: string[];
  id: string[];
}

export interface WaylayCommandContext {
  resourceId: string;
  eventsTopic: string;
  fields: CommandFields;
  maxMessageBytes: number;
  /** Largest and deepest command JSON parsed; default INCOMING_JSON_BOUNDS. */
  incoming?: JsonBounds;
  /** Epoch ms, or undefined while the clock is not synchronized (Waylay then stamps arrival time). */
  timestamp(): number | undefined;
  /** An id for a command that came without one, so the dispatcher never takes two of them for a replay. */
  localId(): string;
}

/** What encodeReply needs, carried opaquely in Command.replyTo. */
export interface WaylayReplyTo {
  /** The id the cloud gave, or null: then the result event carries no commandId. */
  commandId: string | null;
}

const MAX_ID_LENGTH = COMMAND_LIMITS.idChars;
const MAX_NAME_LENGTH = COMMAND_LIMITS.nameChars;
/** A bulk command message larger than this is refused whole: commands are few and small. */
const MAX_COMMANDS_PER_MESSAGE = 32;
/** Fields that describe the message itself, never arguments, when arguments are taken from the top level. */
const ENVELOPE_FIELDS = ['resource', ...TIMESTAMP_FIELDS];

/** Decodes one commands-topic message; never throws. */
export function decodeWaylayCommands(payload: Buffer, ctx: WaylayCommandContext): IncomingAction<WaylayReplyTo>[] {
  const parsed = parseBoundedJson(payload, ctx.incoming ?? INCOMING_JSON_BOUNDS);
  if (!parsed.ok) return [malformed(ctx, null, null, parsed.problem === 'syntax' ? 'the command is not valid JSON' : parsed.reason)];
  const body = parsed.value;
  if (Array.isArray(body)) {
    if (body.length === 0 || body.length > MAX_COMMANDS_PER_MESSAGE) return [malformed(ctx, null, null, `expected 1 to ${MAX_COMMANDS_PER_MESSAGE} command objects in an array, found ${body.length}`)];
    return body.map((item) => decodeOne(item, ctx));
  }
  return [decodeOne(body, ctx)];
}

function decodeOne(body: unknown, ctx: WaylayCommandContext): IncomingAction<WaylayReplyTo> {
  const { fields } = ctx;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return malformed(ctx, null, null, `expected a JSON object such as {"${fields.name[0]}": "ping", "${fields.args[0]}": {}, "${fields.id[0]}": "42"}`);
  }
  const record = body as Record<string, unknown>;
  const idField = fields.id.find((f) => record[f] !== undefined);
  const rawId = idField === undefined ? undefined : record[idField];
  let commandId: string | null = null;
  if (rawId !== undefined) {
    if ((typeof rawId !== 'string' && typeof rawId !== 'number') || String(rawId) === '' || String(rawId).length > MAX_ID_LENGTH) {
      return malformed(ctx, null, null, `expected "${idField}" to be a string or number of at most ${MAX_ID_LENGTH} characters`);
    }
    commandId = String(rawId);
  }
  const nameField = fields.name.find((f) => record[f] !== undefined);
  const name = nameField === undefined ? undefined : record[nameField];
  if (typeof name !== 'string' || name === '' || name.length > MAX_NAME_LENGTH) {
    return malformed(ctx, commandId, null, `expected the command name in ${fields.name.map((f) => `"${f}"`).join(' or ')} (a string of at most ${MAX_NAME_LENGTH} characters)`);
  }
  const argsField = fields.args.find((f) => record[f] !== undefined);
  // Waylay actuations are often flat ({"command": "setpoint", "value": 21}): without an
  // arguments field, the remaining top-level fields are the arguments.
  const params = argsField !== undefined ? record[argsField] : withoutFields(record, [...fields.name, ...fields.id, ...ENVELOPE_FIELDS]);
  const sent = readSentAt(record);
  if ('error' in sent) return malformed(ctx, commandId, name, sent.error);
  const replyTo: WaylayReplyTo = { commandId };
  const command: Command<WaylayReplyTo> = { id: commandId ?? ctx.localId(), name, params, origin: 'waylay', replyTo, ...sent };
  return { kind: 'command', command };
}

function withoutFields(record: Record<string, unknown>, drop: string[]): Record<string, unknown> {
  const rest: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!drop.includes(key)) rest[key] = value;
  return rest;
}

function malformed(ctx: WaylayCommandContext, commandId: string | null, name: string | null, reason: string): IncomingAction<WaylayReplyTo> {
  return { kind: 'reply', reason, messages: [resultEvent(ctx, commandId, name, { ok: false, status: 400, message: reason })] };
}

/** The result of a command, as an event on the events/data topic. */
export function encodeWaylayResult(command: Command<WaylayReplyTo>, result: CommandResult, ctx: WaylayCommandContext): OutgoingMessage[] {
  const { commandId } = command.replyTo;
  return [resultEvent(ctx, commandId, command.name, result)];
}

function resultEvent(ctx: WaylayCommandContext, commandId: string | null, name: string | null, result: CommandResult): OutgoingMessage {
  const timestamp = ctx.timestamp();
  const envelope = {
    resource: ctx.resourceId,
    ...(timestamp === undefined ? {} : { timestamp }),
    ...(commandId === null ? {} : { commandId }),
    ...(name === null ? {} : { command: name }),
  };
  let payload = JSON.stringify({ ...envelope, ...resultFields(result) });
  const bytes = Buffer.byteLength(payload);
  // The broker refuses (and may disconnect on) a message over its limit: report that instead,
  // so a huge result cannot make the link flap.
  if (bytes > ctx.maxMessageBytes) {
    payload = JSON.stringify({ ...envelope, ...resultFields({ ok: false, status: 413, message: `the result is ${bytes} bytes as an event, more than the ${ctx.maxMessageBytes}-byte message limit` }) });
  }
  return { topic: ctx.eventsTopic, payload, qos: 1 };
}

function resultFields(result: CommandResult) {
  if (result.ok) return { status: 'ok', result: result.data ?? null };
  return { status: 'error', result: { code: result.status, message: result.message ?? 'failed', ...(result.data === undefined ? {} : { data: result.data }) } };
}
