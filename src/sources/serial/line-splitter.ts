// Cuts a byte stream into lines. Bounded: a line that never ends is dropped at maxLength and
// counted, instead of growing memory without limit (serialport's DelimiterParser has no cap).

export interface SplitResult {
  lines: Buffer[];
  /** Lines cut because they exceeded maxLength. */
  overlong: number;
}

export class LineSplitter {
  readonly #delimiter: Buffer;
  readonly #maxLength: number;
  #pending: Buffer = Buffer.alloc(0);
  /** True while skipping the rest of an overlong line, up to its delimiter. */
  #discarding = false;

  constructor(delimiter: Buffer, maxLength: number) {
    this.#delimiter = delimiter;
    this.#maxLength = maxLength;
  }

  push(chunk: Buffer): SplitResult {
    const lines: Buffer[] = [];
    let overlong = 0;
    let data = this.#pending.length > 0 ? Buffer.concat([this.#pending, chunk]) : chunk;
    for (;;) {
      const index = data.indexOf(this.#delimiter);
      if (index < 0) break;
      const line = data.subarray(0, index);
      data = data.subarray(index + this.#delimiter.length);
      if (this.#discarding) {
        this.#discarding = false;
        continue;
      }
      if (line.length > this.#maxLength) overlong++;
      else lines.push(Buffer.from(line));
    }
    if (data.length > this.#maxLength) {
      if (!this.#discarding) overlong++;
      this.#discarding = true;
      data = Buffer.alloc(0);
    }
    this.#pending = Buffer.from(data);
    return { lines, overlong };
  }

  /** Forget a partial line (after the port closed: its rest will never come). */
  reset(): void {
    this.#pending = Buffer.alloc(0);
    this.#discarding = false;
  }
}
