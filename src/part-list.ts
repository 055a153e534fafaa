// Parts started in order and stopped in reverse, each stop wrapped so one failure does not hide the
// rest (Zigbee2MQTT's controller does the same with its extensions).
import type { Logger } from './log.ts';

export interface Part {
  /** Names the part in the `stop-failed` log line. */
  name: string;
  /** Left out by a step that only matters at shutdown (a flush, a drain). */
  start?: () => unknown;
  stop?: () => unknown;
}

export class PartList {
  readonly #parts: readonly Part[];
  readonly #log: Logger;
  /** Parts whose start has begun: only these are stopped. */
  #begun = 0;
  #stopping = false;

  constructor(parts: readonly Part[], log: Logger) {
    this.#parts = parts;
    this.#log = log;
  }

  /** Starts each part after the one before it; a part that throws stops the start (the caller stops what began). */
  async start(): Promise<void> {
    for (const part of this.#parts) {
      // A stop that arrives while a part starts: the parts after it are not started at all.
      if (this.#stopping) return;
      this.#begun++;
      await part.start?.();
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    for (const part of this.#parts.slice(0, this.#begun).reverse()) {
      if (!part.stop) continue;
      try {
        await part.stop();
      } catch (error) {
        this.#log.error({ event: 'stop-failed', part: part.name, err: error }, `stopping ${part.name} failed`);
      }
    }
  }
}
