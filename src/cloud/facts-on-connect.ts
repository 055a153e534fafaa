// Clouds that keep device state (Azure reported properties) hear the agent's facts on every connect.
import type { AgentFacts, CloudAdapter } from './adapter.ts';
import type { OutgoingMessage } from './message.ts';

export interface FactsOnConnectOptions {
  /** The cloud session: its 'connected' event, and publish. */
  session: {
    on(event: 'connected', listener: () => void): unknown;
    off(event: 'connected', listener: () => void): unknown;
    publish(message: OutgoingMessage): Promise<void>;
  };
  adapter: CloudAdapter;
  /** The facts as they are at this connect. */
  facts: () => AgentFacts;
}

export class FactsOnConnect {
  readonly #o: FactsOnConnectOptions;

  constructor(options: FactsOnConnectOptions) {
    this.#o = options;
  }

  start(): void {
    this.#o.session.on('connected', this.#onConnected);
  }

  stop(): void {
    this.#o.session.off('connected', this.#onConnected);
  }

  /** The facts changed (an update's outcome): publish them now. */
  publishNow(): void {
    this.#onConnected();
  }

  readonly #onConnected = (): void => {
    for (const message of this.#o.adapter.encodeFacts?.(this.#o.facts()) ?? []) this.#o.session.publish(message).catch(() => undefined);
  };
}
