// The outbox a pipeline is built with: opening the SQLite file is I/O, so it happens in open()
// (the pipeline's start()), not when the pipeline is built. The parts that write to the outbox or
// lease from it (sources, forwarder, health, built-in commands) are handed this one object when
// they are built and only use it once started, which is after open(). Until then it answers
// stats() as empty, so status works while the agent starts.
import type { Reading } from '../sources/reading.ts';
import type { Lease, LeaseOptions, Outbox, OutboxStats } from './outbox.ts';
import type { OpenOutboxOptions } from './sqlite-outbox.ts';
import { openOutboxOrWait, type RetryPace } from './waiting-outbox.ts';

export class DeferredOutbox implements Outbox {
  readonly #options: OpenOutboxOptions & { retry?: RetryPace };
  #store: Outbox | undefined;

  constructor(options: OpenOutboxOptions & { retry?: RetryPace }) {
    this.#options = options;
  }

  /** Opens the file (or, when the file system refuses, an outbox that waits for it: waiting-outbox.ts). */
  open(): void {
    this.#store ??= openOutboxOrWait(this.#options);
  }

  append(reading: Reading): number {
    return this.#opened().append(reading);
  }

  appendReserved(body: unknown, destination?: string): number {
    return this.#opened().appendReserved(body, destination);
  }

  flush(): void {
    this.#opened().flush();
  }

  lease(options: LeaseOptions): Lease | undefined {
    return this.#opened().lease(options);
  }

  ack(leaseId: number): void {
    this.#opened().ack(leaseId);
  }

  nack(leaseId: number): void {
    this.#opened().nack(leaseId);
  }

  purge(filter: { sensorId?: string; olderThan?: number }): number {
    return this.#opened().purge(filter);
  }

  recordDropped(sensorId: string, count: number, reason: string): void {
    this.#opened().recordDropped(sensorId, count, reason);
  }

  stats(): OutboxStats {
    if (this.#store) return this.#store.stats();
    return { pending: 0, pendingReserved: 0, leased: 0, oldestTs: null, bytes: 0, maxBytes: this.#options.config.maxBytes, dropped: {}, lastSeq: 0, committedSeq: 0, commits: 0, diskFull: false };
  }

  onCommit(listener: (committedSeq: number) => void): () => void {
    return this.#opened().onCommit(listener);
  }

  onAvailable(listener: () => void): () => void {
    return this.#opened().onAvailable(listener);
  }

  /** Closes the file; a no-op when it never opened. */
  close(): void {
    this.#store?.close();
  }

  #opened(): Outbox {
    if (!this.#store) throw new Error('the outbox is not open yet (it opens when the pipeline starts)');
    return this.#store;
  }
}
