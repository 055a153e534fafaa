// One serial port that stays open: reopened with backoff when it is missing at start, unplugged
// or failing with EIO. On Linux an unplug hangs the tty up; the hang-up-aware binding turns that into
// a 'close' with `disconnected: true`, and a write that fails with EIO counts the same: both lead
// here to a reopen.
import { SerialPortStream } from '@serialport/stream';
import { serialBinding } from './hangup-aware-binding.ts';
import type { Logger } from '../../log.ts';

export interface SerialSettings {
  port: string;
  baudRate: number;
  dataBits: 5 | 6 | 7 | 8;
  parity: 'none' | 'even' | 'odd' | 'mark' | 'space';
  stopBits: 1 | 1.5 | 2;
  rs485?: { enabled: boolean; rtsOnSend: boolean; rtsAfterSend: boolean } | undefined;
}

export interface SerialConnectionEvents {
  data: (chunk: Buffer) => void;
  opened: () => void;
  lost: (reason: string) => void;
}

const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 30_000;

export class SerialConnection {
  readonly #settings: SerialSettings;
  readonly #log: Logger;
  readonly #events: SerialConnectionEvents;
  #port: SerialPortStream | undefined;
  #retryMs = FIRST_RETRY_MS;
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;
  #lastFailure = '';

  constructor(settings: SerialSettings, log: Logger, events: SerialConnectionEvents) {
    this.#settings = settings;
    this.#log = log;
    this.#events = events;
  }

  get isOpen(): boolean {
    return this.#port?.isOpen === true;
  }

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    const port = this.#port;
    this.#port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }

  /** Writes now or fails now: nothing queues up silently while the port is closed. */
  write(data: Buffer): Promise<void> {
    const port = this.#port;
    if (!port?.isOpen) return Promise.reject(new Error(`serial port ${this.#settings.port} is not open (${this.#lastFailure || 'opening'})`));
    return new Promise((resolve, reject) => {
      port.write(data, (error) => {
        if (error) {
          this.#lose(port, `write failed: ${error.message}`);
          reject(error);
          return;
        }
        port.drain((drainError) => (drainError ? reject(drainError) : resolve()));
      });
    });
  }

  #open(): void {
    if (this.#stopped) return;
    const s = this.#settings;
    const port = new SerialPortStream({
      path: s.port,
      baudRate: s.baudRate,
      dataBits: s.dataBits,
      parity: s.parity,
      stopBits: s.stopBits,
      autoOpen: false,
      binding: serialBinding,
      ...(s.rs485 ? { rs485: { enabled: s.rs485.enabled, rtsOnSend: s.rs485.rtsOnSend, rtsAfterSend: s.rs485.rtsAfterSend } } : {}),
    });
    this.#port = port;
    port.on('data', (chunk: Buffer) => this.#events.data(chunk));
    port.on('close', (error: (Error & { disconnected?: boolean }) | null) => this.#lose(port, error?.disconnected ? 'device disconnected' : error ? error.message : 'port closed'));
    port.on('error', (error: Error) => this.#lose(port, error.message));
    port.open((error) => {
      if (this.#port !== port) return;
      if (error) {
        this.#retry(port, error.message);
        return;
      }
      if (this.#lastFailure) this.#log.info({ event: 'serial-reopened', port: s.port }, `serial port ${s.port} is open again`);
      else this.#log.info({ event: 'serial-opened', port: s.port, baudRate: s.baudRate }, `serial port ${s.port} open at ${s.baudRate} baud`);
      this.#lastFailure = '';
      this.#retryMs = FIRST_RETRY_MS;
      this.#events.opened();
    });
  }

  #lose(port: SerialPortStream, reason: string): void {
    if (this.#port !== port || this.#stopped) return;
    this.#events.lost(reason);
    this.#retry(port, reason);
  }

  #retry(port: SerialPortStream, reason: string): void {
    this.#port = undefined;
    port.removeAllListeners('data');
    if (port.isOpen) port.close(() => undefined);
    if (reason !== this.#lastFailure) {
      // Once per distinct failure: an unplugged adapter must not fill the journal every 30 s.
      this.#log.warn({ event: 'serial-unavailable', port: this.#settings.port, reason, retryInMs: this.#retryMs }, `serial port ${this.#settings.port}: ${reason}; retrying with backoff`);
    }
    this.#lastFailure = reason;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#open(), this.#retryMs);
    this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
  }
}
