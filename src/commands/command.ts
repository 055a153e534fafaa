/** A command from the cloud, as the adapter decoded it. */
export interface Command<ReplyTo = unknown> {
  /** The cloud's id for this request; replays of the same id are answered from the first result. */
  id: string;
  name: string;
  params: unknown;
  /** Which adapter delivered it (for the audit log). */
  origin: string;
  /** What the adapter needs to address the reply (rid, response topic, correlation data…); opaque to everyone else. */
  replyTo: ReplyTo;
  /** When the cloud sent it (epoch ms), where the cloud says: a command older than commands.maxAge is refused. */
  sentAt?: number;
}

/**
 * Bounds on what a command may carry, checked by the decoders and again by the dispatcher: names
 * and ids are echoed in replies and logs, keys in validation errors, and every one of them is
 * stored in the replay cache. Built-in names and script names are far shorter than these.
 */
export const COMMAND_LIMITS = {
  nameChars: 128,
  idChars: 128,
  paramKeyChars: 128,
} as const;

/** The outcome of a command, in cloud-neutral terms; each adapter renders it in its own reply format. */
export interface CommandResult {
  ok: boolean;
  /**
   * HTTP-like: 200 ok, 202 accepted (the outcome follows as a late result), 400 bad params, 403 not allowed, 404 unknown command, 408 timeout,
   * 410 sent longer ago than commands.maxAge, 429 busy or over commands.rate, 500 failed.
   */
  status: number;
  data?: unknown;
  /** For a failure: what went wrong, in words an operator can act on. */
  message?: string;
  /**
   * The outcome of a command first answered 202 (accepted), sent later, possibly by the next run of
   * the agent. Clouds whose reply channel closes with the call (Azure direct methods) report it
   * in their device state instead.
   */
  late?: boolean;
}

export interface DispatchHooks {
  /** Called once the command is admitted (not dropped or refused for rate), before it is checked and run. */
  accepted?: () => void;
}

export interface CommandDispatcher {
  /** Resolves with the result to send back, or undefined when a flood is dropped without a reply. */
  dispatch(command: Command, hooks?: DispatchHooks): Promise<CommandResult | undefined>;
}
