// Publishes on the current connection and settles each publish on its PUBACK: the refusals an MQTT 5
// broker gives (reason code >= 0x80) become PublishRefusedError, a connection that ends first fails
// everything still waiting, and what was acknowledged is counted.
import type { MqttClient } from 'mqtt';
import { PublishRefusedError } from './errors.ts';
import type { LinkStatusRecorder } from './link-status.ts';
import { payloadBytes, type OutgoingMessage, type PublishProperties } from './message.ts';

export class Publisher {
  readonly #status: LinkStatusRecorder;
  readonly #pending = new Map<number, (error?: Error) => void>();
  #nextId = 0;

  constructor(status: LinkStatusRecorder) {
    this.#status = status;
  }

  /** Messages published and not yet acknowledged. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * `everyPublish`: MQTT 5 user properties this connection adds to every publish (Xyte's device_id
   * and access_key), merged at send time so they never rest in the outbox.
   */
  publish(client: MqttClient, message: OutgoingMessage, everyPublish: Record<string, string> | undefined): Promise<void> {
    const id = this.#nextId++;
    const topic = message.topic;
    const bytes = payloadBytes(message) + Buffer.byteLength(topic);
    const properties = withConnectionProperties(message.properties, everyPublish);
    let settle!: (error?: Error) => void;
    const acknowledged = new Promise<void>((resolve, reject) => (settle = (error) => (error ? reject(error) : resolve())));
    this.#pending.set(id, settle);
    try {
      client.publish(topic, message.payload, { qos: message.qos ?? 1, retain: false, ...(properties ? { properties } : {}) }, this.#onAcknowledged(id, topic, bytes));
    } catch (error) {
      this.#pending.delete(id);
      settle(error instanceof Error ? error : new Error(String(error)));
    }
    return acknowledged;
  }

  /**
   * The PUBACK callback, made here and not inside publish(): a closure keeps the scope it was made
   * in, and this one lives until the PUBACK, so made there it kept the whole message, payload
   * included, for as long as the message was in flight.
   */
  #onAcknowledged(id: number, topic: string, bytes: number): (error?: Error) => void {
    return (error) => {
      const settle = this.#pending.get(id);
      if (!settle) return;
      this.#pending.delete(id);
      const reasonCode = (error as { code?: unknown } | undefined)?.code;
      if (error && typeof reasonCode === 'number' && reasonCode >= 0x80) {
        const refused = new PublishRefusedError(topic, reasonCode);
        this.#status.refused(refused.message);
        settle(refused);
      } else if (error) settle(error);
      else {
        this.#status.published(bytes);
        settle();
      }
    };
  }

  /** The connection ended: nothing still waiting will be acknowledged on it. */
  failAll(error: Error): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const settle of pending) settle(error);
  }
}

function withConnectionProperties(properties: PublishProperties | undefined, everyPublish: Record<string, string> | undefined): PublishProperties | undefined {
  if (!everyPublish) return properties;
  return { ...properties, userProperties: { ...properties?.userProperties, ...everyPublish } };
}
