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
    // What the acknowledgement needs, taken now: the callback must not keep the payload (a drain has
    // thousands of readings' worth in flight, and mqtt.js keeps its own encoded copy until the PUBACK).
    const topic = message.topic;
    const bytes = payloadBytes(message) + Buffer.byteLength(topic);
    return new Promise<void>((resolve, reject) => {
      this.#pending.set(id, (error) => (error ? reject(error) : resolve()));
      const properties = withConnectionProperties(message.properties, everyPublish);
      client.publish(topic, message.payload, { qos: message.qos ?? 1, retain: false, ...(properties ? { properties } : {}) }, (error) => {
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
      });
    });
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
