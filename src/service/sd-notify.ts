// systemd's notify protocol (sd_notify(3)): READY=1 once the agent runs, STATUS= for
// `systemctl status`, STOPPING=1, and WATCHDOG=1 keep-alives from the event loop.
//
// Node cannot send a datagram to a Unix socket (dgram is UDP only), so each message is sent by
// `systemd-notify`, which exists wherever systemd does; the unit sets NotifyAccess=all because the
// sender is a child process. Before systemd 254, systemd may drop a message from a sender that has
// already exited (it cannot map the PID to the unit any more), so READY=1 is repeated with every
// watchdog ping until the agent stops: a lost READY=1 is made good half a watchdog interval later.
// Without NOTIFY_SOCKET (not under systemd, or Type= is not notify) every call does nothing.
import { execFile } from 'node:child_process';
import type { Logger } from '../log.ts';

/** Sends one notify message (newline-separated assignments). Resolves when delivered. */
export type NotifySender = (socket: string, assignments: string[]) => Promise<void>;

export interface ServiceNotifierOptions {
  env?: NodeJS.ProcessEnv;
  log?: Pick<Logger, 'warn' | 'debug'>;
  send?: NotifySender;
  pid?: number;
}

export interface ServiceNotifier {
  /** True when NOTIFY_SOCKET is set. */
  readonly enabled: boolean;
  /** Half of WATCHDOG_USEC in ms when systemd asked for keep-alives for this process, else undefined. */
  readonly watchdogIntervalMs: number | undefined;
  ready(status?: string): void;
  status(text: string): void;
  stopping(status?: string): void;
  /** Pings at half WATCHDOG_USEC from a timer: a blocked event loop stops the pings and systemd restarts the agent. */
  startWatchdog(healthy?: () => boolean): void;
  stopWatchdog(): void;
}

const MAX_STATUS = 200;

/** sd_watchdog_enabled(3): WATCHDOG_USEC, and WATCHDOG_PID when set must be ours. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid: number): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isSafeInteger(usec) || usec <= 0) return undefined;
  if (env.WATCHDOG_PID !== undefined && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2000));
}

/** STATUS= is one line in `systemctl status`; a newline would start a new assignment. */
export function statusAssignment(text: string): string {
  const line = text.replace(/[\r\n]+/g, ' ').trim();
  return `STATUS=${line.length > MAX_STATUS ? `${line.slice(0, MAX_STATUS - 3)}...` : line}`;
}

export const systemdNotifySender: NotifySender = (socket, assignments) =>
  new Promise((resolve, reject) => {
    execFile('systemd-notify', assignments, { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5000 }, (error) => {
      if (error) reject(new Error(`systemd-notify failed: ${error.message}`, { cause: error }));
      else resolve();
    });
  });

export function createServiceNotifier(options: ServiceNotifierOptions = {}): ServiceNotifier {
  const env = options.env ?? process.env;
  const socket = env.NOTIFY_SOCKET;
  const send = options.send ?? systemdNotifySender;
  const log = options.log;
  const intervalMs = socket ? watchdogInterval(env, options.pid ?? process.pid) : undefined;
  let isReady = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let sending = false;
  let warned = false;

  const notify = (assignments: string[]): void => {
    if (!socket) return;
    sending = true;
    send(socket, assignments)
      .catch((error: unknown) => {
        // Once: a missing systemd-notify would otherwise log at every ping.
        if (!warned) log?.warn({ event: 'sd-notify-failed', err: error }, `cannot notify systemd (${assignments.join(' ')}): ${(error as Error).message}`);
        warned = true;
      })
      .finally(() => (sending = false));
  };

  return {
    enabled: socket !== undefined && socket !== '',
    watchdogIntervalMs: intervalMs,
    ready(status) {
      isReady = true;
      notify(['READY=1', ...(status ? [statusAssignment(status)] : [])]);
    },
    status(text) {
      notify([statusAssignment(text)]);
    },
    stopping(status) {
      stopped = true;
      this.stopWatchdog();
      notify(['STOPPING=1', ...(status ? [statusAssignment(status)] : [])]);
    },
    startWatchdog(healthy) {
      if (intervalMs === undefined || timer) return;
      log?.debug({ event: 'watchdog-started', intervalMs }, `systemd watchdog: keep-alive every ${intervalMs} ms`);
      timer = setInterval(() => {
        // A ping still in flight means the system is too loaded to spawn; don't pile up processes.
        if (sending || stopped) return;
        if (healthy && !healthy()) return;
        notify(isReady ? ['WATCHDOG=1', 'READY=1'] : ['WATCHDOG=1']);
      }, intervalMs);
      timer.unref();
    },
    stopWatchdog() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}
