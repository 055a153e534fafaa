// Runs the real agent (`node src/cli/main.ts run`) as a child process with a config written to a
// temp dir, and collects its JSON log lines so tests can wait for events.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
export const CLI = join(REPO_ROOT, 'src/cli/main.ts');

export interface LogLine {
  level: string;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

export interface AgentProcess {
  child: ChildProcess;
  dir: string;
  configPath: string;
  dataDir: string;
  logs: LogLine[];
  /** Non-JSON output (stderr and stray stdout). */
  stderr: string[];
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL and wait. */
  kill(): Promise<void>;
  signal(name: NodeJS.Signals): void;
  exited: Promise<number | null>;
  /** Stop (if running) and delete the temp dir. */
  cleanup(): Promise<void>;
}

export interface StartAgentOptions {
  env?: Record<string, string>;
  /** Reuse a dir (e.g. to restart on the same outbox); default a new temp dir. */
  dir?: string;
}

/** `config.agent.dataDir` defaults to `<dir>/data`. */
export function startAgent(config: Record<string, unknown>, options: StartAgentOptions = {}): AgentProcess {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'edge-agent-test-'));
  const agentSection = (config.agent ?? {}) as Record<string, unknown>;
  const dataDir = typeof agentSection.dataDir === 'string' ? agentSection.dataDir : join(dir, 'data');
  // Tests run agents side by side: no shared health port unless a test asks for one.
  const full = { health: { http: { enabled: false } }, ...config, agent: { id: 'test-agent', logLevel: 'debug', ...agentSection, dataDir } };
  const configPath = join(dir, 'agent.config.json');
  writeFileSync(configPath, JSON.stringify(full, null, 2));
  return spawnAgent(['run', '--config', configPath], { dir, configPath, dataDir, env: options.env ?? {} });
}

export function spawnAgent(args: string[], paths: { dir: string; configPath: string; dataDir: string; env: Record<string, string> }): AgentProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: paths.dir, env: { ...process.env, ...paths.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: LogLine[] = [];
  const stderr: string[] = [];
  const waiters = new Set<{ predicate: (l: LogLine) => boolean; resolve: (l: LogLine) => void }>();
  let buffered = '';
  child.stdout.on('data', (chunk: Buffer) => {
    buffered += chunk.toString('utf8');
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const text = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        stderr.push(text);
        continue;
      }
      logs.push(line);
      for (const waiter of waiters) {
        if (waiter.predicate(line)) {
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const agent: AgentProcess = {
    child,
    dir: paths.dir,
    configPath: paths.configPath,
    dataDir: paths.dataDir,
    logs,
    stderr,
    exited,
    waitForLog(predicate, timeoutMs = 15_000) {
      const found = logs.find(predicate);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const waiter = { predicate, resolve: (l: LogLine) => (clearTimeout(timer), resolve(l)) };
        const timer = setTimeout(() => {
          waiters.delete(waiter);
          reject(new Error(`no matching agent log line within ${timeoutMs} ms; last lines:\n${logs.slice(-15).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${stderr.join('').slice(-2000)}`));
        }, timeoutMs);
        waiters.add(waiter);
        void exited.then((code) => {
          if (!waiters.has(waiter)) return;
          waiters.delete(waiter);
          clearTimeout(timer);
          reject(new Error(`agent exited (code ${code}) before the expected log line; stderr: ${stderr.join('').slice(-2000)}; last lines:\n${logs.slice(-10).map((l) => JSON.stringify(l)).join('\n')}`));
        });
      });
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    signal(name) {
      child.kill(name);
    },
    async cleanup() {
      await agent.kill();
      rmSync(paths.dir, { recursive: true, force: true });
    },
  };
  return agent;
}
