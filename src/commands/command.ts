/** A command from the cloud, as the adapter decoded it. */
export interface Command {
  /** The cloud's id for this request; replays of the same id are answered from the first result. */
  id: string;
  name: string;
  params: unknown;
  /** Which adapter delivered it (for the audit log). */
  origin: string;
  /** What the adapter needs to address the reply (rid, response topic, correlation data…); opaque to everyone else. */
  replyTo: unknown;
}

/** The outcome of a command, in cloud-neutral terms; each adapter renders it in its own reply format. */
export interface CommandResult {
  ok: boolean;
  /** HTTP-like: 200 ok, 400 bad params, 403 not allowed, 404 unknown command, 408 timeout, 429 busy, 500 failed. */
  status: number;
  data?: unknown;
  /** For a failure: what went wrong, in words an operator can act on. */
  message?: string;
}

export interface CommandDispatcher {
  dispatch(command: Command): Promise<CommandResult>;
}
