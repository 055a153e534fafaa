// Runs a command the way systemd runs edge-agent.service (Restart=on-failure): started again after
// any exit that is not 0, until stop(). Where systemd is absent this stands in for it in the update
// tests; the PID stays the same across the launcher's exec of an installed update, as under systemd.
import { spawn, type ChildProcess } from 'node:child_process';
import type { LogLine } from './agent-process.ts';
import { waitUntil } from './wait.ts';

export interface Supervised {
  /** Every start, and how each run ended. */
  runs: { pid: number; exit?: { code: number | null; signal: NodeJS.Signals | null } }[];
  logs: LogLine[];
  /** Non-JSON output (stderr), kept for failure messages. */
  output: string[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** SIGTERM, no more restarts; resolves when the current run has exited. */
  stop(): Promise<void>;
  /** The last lines, for assertion messages. */
  tail(lines?: number): string;
}

export function supervise(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; restartDelayMs?: number }): Supervised {
  const restartDelayMs = options.restartDelayMs ?? 300;
  let child: ChildProcess | undefined;
  let stopping = false;
  let restartTimer: NodeJS.Timeout | undefined;
  const supervised: Supervised = {
    runs: [],
    logs: [],
    output: [],
    async waitForLog(predicate, timeoutMs = 30_000, what = 'a log line') {
      let found: LogLine | undefined;
      await waitUntil(() => (found = supervised.logs.find(predicate)) !== undefined, timeoutMs, () => `${what}; last output:\n${supervised.tail()}`);
      return found!;
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      const running = child;
      if (!running || running.exitCode !== null || running.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => running.once('exit', () => resolve()));
      running.kill('SIGTERM');
      const killer = setTimeout(() => running.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(killer);
    },
    tail(lines = 30) {
      return [...supervised.logs.map((l) => `${l.event ?? ''} ${l.msg}`), ...supervised.output].slice(-lines).join('\n');
    },
  };
  const start = () => {
    const run = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = run;
    const record: Supervised['runs'][number] = { pid: run.pid ?? -1 };
    supervised.runs.push(record);
    let partial = '';
    run.stdout.on('data', (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        try {
          supervised.logs.push(JSON.parse(line) as LogLine);
        } catch {
          supervised.output.push(line);
        }
      }
    });
    run.stderr.on('data', (chunk: Buffer) => supervised.output.push(...chunk.toString().trimEnd().split('\n')));
    run.on('exit', (code, signal) => {
      record.exit = { code, signal };
      if (!stopping && code !== 0) restartTimer = setTimeout(start, restartDelayMs);
    });
  };
  start();
  return supervised;
}
