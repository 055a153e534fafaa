// A real Mosquitto broker on a free loopback port, for integration tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.ts';
import { waitUntil } from './wait.ts';

export interface Mosquitto {
  port: number;
  url: string;
  /** Extra lines appended to mosquitto.conf (listener and persistence are set already). */
  configLines: string[];
  start(): Promise<void>;
  /** SIGKILL: the broker vanishes without closing connections cleanly. */
  kill(): Promise<void>;
  /** SIGTERM and wait. */
  stop(): Promise<void>;
  /** SIGHUP: reload (password files, ACLs). */
  reload(): void;
  cleanup(): Promise<void>;
  dir: string;
}

export async function startMosquitto(
  options: {
    port?: number;
    configLines?: string[];
    /** Mosquitto's log (stderr), as it comes. */
    onLog?: (text: string) => void;
    /** Keep sessions and queued messages across stop()/start(), as a cloud broker does. */
    persistence?: boolean;
  } = {},
): Promise<Mosquitto> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-mosquitto-'));
  // Started as root, mosquitto drops to the `mosquitto` user and must still read its files here.
  chmodSync(dir, 0o755);
  const port = options.port ?? (await freePort());
  // The broker writes its database as the `mosquitto` user.
  const persistDir = join(dir, 'persist');
  if (options.persistence) {
    mkdirSync(persistDir);
    chmodSync(persistDir, 0o777);
  }
  let child: ChildProcess | undefined;
  const broker: Mosquitto = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    dir,
    configLines: options.configLines ?? ['allow_anonymous true'],
    async start() {
      const persistence = options.persistence ? ['persistence true', `persistence_location ${persistDir}/`] : ['persistence false'];
      writeFileSync(join(dir, 'mosquitto.conf'), [`listener ${port} 127.0.0.1`, ...persistence, 'max_queued_messages 100000', 'max_inflight_messages 1000', ...broker.configLines, ''].join('\n'));
      child = spawn('mosquitto', ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-4000);
        options.onLog?.(chunk.toString());
      });
      const exited = new Promise<never>((_, reject) => child!.once('exit', (code) => reject(new Error(`mosquitto exited with ${code}: ${stderr}`))));
      exited.catch(() => undefined);
      await Promise.race([waitForPort(port), exited]);
    },
    async kill() {
      await terminate('SIGKILL');
    },
    async stop() {
      await terminate('SIGTERM');
    },
    reload() {
      child?.kill('SIGHUP');
    },
    async cleanup() {
      await terminate('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  async function terminate(signal: NodeJS.Signals) {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const gone = new Promise((resolve) => running.once('exit', resolve));
    running.kill(signal);
    await gone;
  }
  await broker.start();
  return broker;
}

export function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  return waitUntil(listening, timeoutMs, `something to listen on 127.0.0.1:${port}`, 50);
}
