// What the cloud sends the agent: the adapter decodes each incoming message into actions, and the
// inbox carries them out. Commands go to the dispatcher, config changes to the agent's hook, and
// their answers (encoded by the adapter) leave through the reply lane; unreadable commands are
// answered at the dispatcher's pace; notices are logged. Adapters never import this: it drives them.
import type { Dispatcher } from '../commands/dispatcher.ts';
import { RateLimitedLog, type Logger } from '../log.ts';
import { echoUntrusted } from '../untrusted-text.ts';
import type { CloudAdapter, IncomingAction } from './adapter.ts';
import type { IncomingMessage, OutgoingMessage } from './message.ts';
import { encodeBoundedReply } from './bounded-reply.ts';

/**
 * Incoming messages handled at once, by count and by payload bytes: each holds its decoded params
 * until its reply is sent. Messages arriving beyond this are dropped (and counted) before decoding.
 * mqtt.js hands over every packet of a socket read in one go, so the count allows bursts of small ones.
 */
const MAX_INCOMING_IN_FLIGHT = 1024;
const MAX_INCOMING_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

export type ApplyConfigChange = (patch: unknown, origin: string) => Promise<{ applied: boolean; message?: string; config?: unknown }>;

export interface InboxOptions {
  /** Where incoming messages come from (the cloud session's 'message' event). */
  session: {
    on(event: 'message', listener: (message: IncomingMessage) => void): unknown;
    off(event: 'message', listener: (message: IncomingMessage) => void): unknown;
  };
  adapter: CloudAdapter;
  dispatcher: Dispatcher;
  /** Sends the answers: now when the link takes them, else through the outbox's reserved lane (reply-lane.ts). */
  replies: { send(messages: OutgoingMessage[]): void };
  /** Applies a config change from the cloud; resolves with the outcome (the agent reloads after). */
  applyConfigChange: ApplyConfigChange;
  /**
   * Why this cloud's config pushes are refused, when they are (one of several destinations whose
   * `commands.allow` does not list `config.set`); undefined: they are applied.
   */
  configPushRefusal?: string | undefined;
  log: Logger;
  now?: () => number;
}

export class Inbox {
  readonly #o: InboxOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #floodLog = new RateLimitedLog(60_000);
  #malformed = 0;
  #inFlight = 0;
  #bytesInFlight = 0;
  #dropped = 0;

  constructor(options: InboxOptions) {
    this.#o = options;
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#o.session.on('message', this.#onMessage);
  }

  stop(): void {
    this.#o.session.off('message', this.#onMessage);
  }

  /** Incoming messages that could not be decoded, or were unreadable commands, refusals or warnings. */
  malformedIncoming(): number {
    return this.#malformed;
  }

  /** Incoming messages dropped unread because too many were being handled already. */
  droppedIncoming(): number {
    return this.#dropped;
  }

  readonly #onMessage = (message: IncomingMessage): void => {
    // The session emits messages as fast as the broker delivers them and mqtt.js cannot be told to
    // wait: without this bound, a flood of slow commands piles up decoded params without end.
    const bytes = message.payload.length;
    if (this.#inFlight >= MAX_INCOMING_IN_FLIGHT || (this.#inFlight > 0 && this.#bytesInFlight + bytes > MAX_INCOMING_BYTES_IN_FLIGHT)) {
      this.#dropped++;
      const suppressed = this.#floodLog.admit('incoming-dropped', this.#now());
      if (suppressed >= 0) this.#log.warn({ event: 'incoming-dropped', dropped: this.#dropped, suppressed }, `${this.#inFlight} incoming messages are being handled: dropping more unread (${this.#dropped} so far)`);
      return;
    }
    let actions: IncomingAction[];
    try {
      actions = this.#o.adapter.decodeIncoming(message);
    } catch (error) {
      this.#malformed++;
      this.#log.error({ event: 'decode-failed', topic: message.topic, err: error }, `could not decode a message on ${message.topic}`);
      return;
    }
    // The payload is not needed past decoding: only the topic goes on (for log lines).
    this.#inFlight++;
    this.#bytesInFlight += bytes;
    void this.#handle(actions, message.topic).finally(() => {
      this.#inFlight--;
      this.#bytesInFlight -= bytes;
    });
  };

  async #handle(actions: IncomingAction[], topic: string): Promise<void> {
    const { adapter, dispatcher, replies } = this.#o;
    for (const action of actions) {
      switch (action.kind) {
        case 'command': {
          const { command } = action;
          const accepted = () => {
            const name = echoUntrusted(command.name);
            this.#log.info({ event: 'command-received', id: echoUntrusted(command.id), name, origin: command.origin }, `command ${name} received`);
            replies.send(adapter.encodeAccepted?.(command) ?? []);
          };
          const result = await dispatcher.dispatch(command, { accepted });
          // No result: dropped in a flood, without a reply (the dispatcher counted it).
          if (result) replies.send(encodeBoundedReply(adapter, command, result));
          break;
        }
        case 'config': {
          const refusal = this.#o.configPushRefusal;
          if (refusal !== undefined) {
            // Azure sends its twin's desired config after every connect: one line a minute is enough.
            const suppressed = this.#floodLog.admit('config-push-refused', this.#now());
            if (suppressed >= 0) this.#log.warn({ event: 'config-push-refused', topic, version: action.version, suppressed }, `refused a config push (version ${action.version}): ${refusal}`);
          }
          const outcome = refusal === undefined ? await this.#o.applyConfigChange(action.patch, `${adapter.provider} (version ${action.version})`) : { applied: false, message: refusal };
          replies.send(adapter.encodeConfigResult?.({ version: action.version, replyTo: action.replyTo }, outcome) ?? []);
          break;
        }
        case 'reply':
          this.#malformed++;
          // An unreadable command is answered like a command, so it passes the same rate.
          if (!dispatcher.admitUnreadable()) break;
          this.#log.warn({ event: 'incoming-refused', topic, reason: action.reason }, `refused a message on ${topic}: ${action.reason}`);
          replies.send(action.messages);
          break;
        case 'notice':
          if (action.level !== 'info') this.#malformed++;
          this.#log[action.level]({ event: action.event, topic, ...action.fields }, action.message);
          break;
      }
    }
  }
}
