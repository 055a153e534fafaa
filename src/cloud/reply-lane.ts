// Command replies, acceptances and config results: sent now when the link takes them, else kept
// in the outbox's reserved lane, which the forwarder leases before telemetry. This is the only
// writer of the reserved lane; what it stores is stored-message.ts's format, which the forwarder
// reads back (fromStoredMessage) when it leases a reserved entry.
import type { Outbox } from '../outbox/outbox.ts';
import { payloadBytes, type OutgoingMessage } from './message.ts';
import { toStoredMessage } from './stored-message.ts';

/** Replies awaiting the broker's PUBACK in mqtt.js; more wait in the outbox's reserved lane, which is bounded on disk. */
const MAX_REPLIES_IN_FLIGHT = 64;
const MAX_REPLY_BYTES_IN_FLIGHT = 1024 * 1024;

export interface ReplyLaneOptions {
  /** The cloud link: rejects when the message was not acknowledged (link down, refused). */
  session: { publish(message: OutgoingMessage): Promise<void> };
  outbox: Pick<Outbox, 'appendReserved'>;
}

export class ReplyLane {
  readonly #session: ReplyLaneOptions['session'];
  readonly #outbox: ReplyLaneOptions['outbox'];
  #inFlight = 0;
  #bytesInFlight = 0;

  constructor(options: ReplyLaneOptions) {
    this.#session = options.session;
    this.#outbox = options.outbox;
  }

  /**
   * Replies go straight out when the link is up, else wait in the outbox's reserved lane. Those
   * awaiting their PUBACK are bounded: beyond that (a broker reading slowly while commands keep
   * coming), replies wait in the reserved lane too, which retention bounds on disk.
   */
  send(messages: OutgoingMessage[]): void {
    for (const message of messages) {
      const bytes = payloadBytes(message);
      if (this.#inFlight >= MAX_REPLIES_IN_FLIGHT || (this.#inFlight > 0 && this.#bytesInFlight + bytes > MAX_REPLY_BYTES_IN_FLIGHT)) {
        this.#keep(message);
        continue;
      }
      this.#inFlight++;
      this.#bytesInFlight += bytes;
      void this.#session
        .publish(message)
        .catch(() => {
          this.#keep(message);
        })
        .finally(() => {
          this.#inFlight--;
          this.#bytesInFlight -= bytes;
        });
    }
  }

  #keep(message: OutgoingMessage): void {
    this.#outbox.appendReserved(toStoredMessage(message));
  }
}
