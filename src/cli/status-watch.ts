// `edge-agent status --watch`: the status view redrawn in place every second, for a technician on a
// slow SSH session. Each frame overwrites the last (cursor home, lines cleared to their end) rather
// than clearing the screen, so nothing flickers and little crosses the link; it fits the terminal
// (cut to its width and height, 80x24 when unknown), and colours only the link state, never when
// NO_COLOR is set or the output is not a terminal.
import { fetchStatus } from '../status/local-api.ts';
import { formatStatus } from './status-text.ts';

const HOME = '\x1b[H';
const CLEAR_LINE_END = '\x1b[K';
const CLEAR_BELOW = '\x1b[J';
const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const COLOURS: Record<string, string> = { connected: '\x1b[32m', connecting: '\x1b[33m', disconnected: '\x1b[31m', 'waiting-for-clock': '\x1b[33m', stopped: '\x1b[31m' };
const RESET = '\x1b[0m';

export interface WatchOutput {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
  rows?: number;
}

export interface WatchOptions {
  intervalMs?: number;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
}

export async function watchStatus(socket: string, out: WatchOutput, options: WatchOptions = {}): Promise<void> {
  const tty = out.isTTY === true;
  const colour = tty && !(options.env ?? process.env).NO_COLOR;
  const now = options.now ?? (() => new Date());
  if (tty) out.write(HIDE_CURSOR);
  try {
    while (!options.signal?.aborted) {
      let body: string;
      try {
        body = formatStatus(await fetchStatus(socket));
      } catch (error) {
        body = `cannot reach the agent at ${socket} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): is it running? (systemctl status edge-agent)\nretrying every ${Math.round((options.intervalMs ?? 1000) / 1000)} s`;
      }
      out.write(frame(body, `${now().toTimeString().slice(0, 8)} · refreshed every ${Math.round((options.intervalMs ?? 1000) / 1000)} s · Ctrl-C to quit`, out, tty, colour));
      await sleep(options.intervalMs ?? 1000, options.signal);
    }
  } finally {
    if (tty) out.write(SHOW_CURSOR);
  }
}

/** One screen: the status cut to the terminal, then the footer; on a pipe, frames one after another. */
export function frame(body: string, footer: string, out: WatchOutput, tty: boolean, colour: boolean): string {
  // A pty nobody sized reports 0x0: take the classic terminal then.
  const width = Math.max(20, out.columns || 80);
  const height = Math.max(3, out.rows || 24);
  const fit = (line: string) => (line.length > width - 1 ? `${line.slice(0, width - 2)}…` : line);
  let lines = body.split('\n').map(fit);
  if (lines.length > height - 1) lines = [...lines.slice(0, height - 2), fit(`… ${lines.length - (height - 2)} more lines (a taller terminal, or edge-agent status, shows them)`)];
  const painted = colour ? lines.map(paintLinkState) : lines;
  if (!tty) return `${[...painted, fit(footer)].join('\n')}\n\n`;
  return `${HOME}${[...painted, fit(footer)].map((line) => `${line}${CLEAR_LINE_END}`).join('\n')}${CLEAR_BELOW}`;
}

function paintLinkState(line: string): string {
  const match = /^(link {7}|\S+ +)(connected|connecting|disconnected|waiting-for-clock|stopped)\b/.exec(line);
  if (!match) return line;
  return `${match[1]}${COLOURS[match[2]!]}${match[2]}${RESET}${line.slice(match[0].length)}`;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}
