import type { z } from 'zod';
import type { Logger } from '../log.ts';
import type { Command } from './command.ts';

/** What a command handler may reach; the agent fills it in. Handlers never see the cloud. */
export interface CommandContext {
  log: Logger;
  signal: AbortSignal;
  /** Who asked, for a handler whose outcome comes later (agent.update): kept and handed back to the destination to answer. */
  requester: { destination: string; command: Pick<Command, 'id' | 'name' | 'origin' | 'replyTo'> };
}

/** Returned by a handler that has started something whose outcome follows later, as a late reply (status 202). */
export class CommandAccepted {
  readonly data: unknown;
  constructor(data: unknown) {
    this.data = data;
  }
}

/** Thrown by a handler to fail with a specific status and a message for the operator. */
export class CommandFailure extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'CommandFailure';
    this.status = status;
  }
}

export interface CommandHandler<Params extends z.ZodType = z.ZodType> {
  readonly name: string;
  readonly description: string;
  /** Params are validated against this before the handler runs; a mismatch is a 400 with the reason. */
  readonly params: Params;
  run(params: z.output<Params>, context: CommandContext): Promise<unknown>;
}

export function defineHandler<Params extends z.ZodType>(handler: CommandHandler<Params>): CommandHandler<Params> {
  return handler;
}
