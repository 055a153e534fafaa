// A fake MQTT transport for the session's timing logic on a fake clock (test/helpers/fake-clock.ts):
// each connect attempt is answered as the test says (accept, refuse with a CONNACK code, fail with a
// socket error), and an accepted connection can be dropped. The real broker is for integration tests.
import { EventEmitter } from 'node:events';
import type { IClientOptions, MqttClient } from 'mqtt';

export type Answer = { accept: true } | { error: { code: number | string; message: string } };

export class FakeClient extends EventEmitter {
  connected = false;
  /** What the session reads as the socket's backpressure; a test sets writableLength. */
  readonly stream = { writableLength: 0 };
  #ended = false;
  readonly options: IClientOptions;

  constructor(options: IClientOptions, answer: Answer) {
    super();
    this.options = options;
    queueMicrotask(() => {
      if ('accept' in answer) {
        this.connected = true;
        this.emit('connect', { cmd: 'connack', sessionPresent: false });
      } else this.emit('error', Object.assign(new Error(answer.error.message), { code: answer.error.code }));
    });
  }

  /** The link goes away under the session (a broker restart, a cell drop). */
  drop(): void {
    this.connected = false;
    this.#finish();
  }

  end(_force?: boolean, _options?: object, callback?: () => void): this {
    this.connected = false;
    this.#finish();
    if (callback) queueMicrotask(callback);
    return this;
  }

  /** What was published on this connection, in order (each acknowledged at once unless holdAcks). */
  readonly published: { topic: string; payload: Buffer | string }[] = [];

  /** While true, PUBACKs wait for releaseAcks() (a slow uplink). */
  holdAcks = false;
  readonly #heldAcks: (() => void)[] = [];

  publish(topic: string, payload: Buffer | string, _options: unknown, callback?: (error?: Error) => void): this {
    this.published.push({ topic, payload });
    if (callback) {
      if (this.holdAcks) this.#heldAcks.push(() => callback());
      else queueMicrotask(() => callback());
    }
    return this;
  }

  releaseAcks(): void {
    for (const ack of this.#heldAcks.splice(0)) ack();
  }

  subscribeAsync(topics: string[]): Promise<{ topic: string; qos: number }[]> {
    return Promise.resolve(topics.map((topic) => ({ topic, qos: 1 })));
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    queueMicrotask(() => {
      this.emit('close');
      this.emit('end');
    });
  }
}

export class FakeTransport {
  readonly clients: FakeClient[] = [];
  /** What the next connect attempts get; the test changes it as the scenario goes on. */
  answer: Answer = { accept: true };

  connect = (options: IClientOptions): MqttClient => {
    const client = new FakeClient(options, this.answer);
    this.clients.push(client);
    return client as unknown as MqttClient;
  };

  get last(): FakeClient | undefined {
    return this.clients.at(-1);
  }
}
