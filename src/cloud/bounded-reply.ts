// A command's result can be larger than the cloud takes in one message (a script's output, a big
// config.get): published as is, the broker refuses it, and parked in the reserved lane it would be
// refused again at every reconnect. So a reply over the adapter's limit becomes a 413 that says so.
// Once here, for every cloud; the adapters only translate.
import type { Command, CommandResult } from '../commands/command.ts';
import type { CloudAdapter } from './adapter.ts';
import { payloadBytes, type OutgoingMessage } from './message.ts';

export function encodeBoundedReply(adapter: CloudAdapter, command: Command, result: CommandResult): OutgoingMessage[] {
  const messages = adapter.encodeReply(command, result);
  const largest = Math.max(0, ...messages.map(payloadBytes));
  if (largest <= adapter.maxMessageBytes) return messages;
  return adapter.encodeReply(command, {
    ok: false,
    status: 413,
    message: `the ${result.ok ? 'result' : 'error'} of "${command.name.slice(0, 64)}" was ${largest} bytes, more than the ${adapter.maxMessageBytes} bytes ${adapter.provider} takes in one message; ask for less (a shorter output, one sensor at a time)`,
  });
}
