// A pair of real pseudo-terminals joined by socat, reached through stable symlinks (like
// /dev/serial/by-id): `sensorPath` is what the agent opens, `devicePath` is the test's end.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPortStream } from '@serialport/stream';
import { serialBinding } from '../../src/sources/serial/hangup-aware-binding.ts';
import { waitUntil } from './wait.ts';

export interface PtyPair {
  sensorPath: string;
  devicePath: string;
  /** Kill socat: both ends vanish, like an unplugged USB adapter. */
  unplug(): Promise<void>;
  /** Start socat again on the same paths. */
  plug(): Promise<void>;
  cleanup(): Promise<void>;
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'edge-agent-pty-'));
  const sensorPath = join(dir, 'sensor');
  const devicePath = join(dir, 'device');
  let child: ChildProcess | undefined;
  const pair: PtyPair = {
    sensorPath,
    devicePath,
    async plug() {
      child = spawn('socat', [`pty,raw,echo=0,link=${sensorPath}`, `pty,raw,echo=0,link=${devicePath}`], { stdio: 'ignore' });
      await waitUntil(() => existsSync(sensorPath) && existsSync(devicePath), 5000, 'socat to create the pty pair', 10);
    },
    async unplug() {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null) return;
      const gone = new Promise((resolve) => running.once('exit', resolve));
      running.kill('SIGKILL');
      await gone;
      rmSync(sensorPath, { force: true });
      rmSync(devicePath, { force: true });
    },
    async cleanup() {
      await pair.unplug();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  await pair.plug();
  return pair;
}

/** The test's end of a pair, opened as a serial port: what it sends, the agent's sensor reads; what the agent writes arrives in `received`. */
export async function openDevice(pty: PtyPair) {
  const port = new SerialPortStream({ binding: serialBinding, path: pty.devicePath, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => port.open((e) => (e ? reject(e) : resolve())));
  const received: Buffer[] = [];
  port.on('data', (chunk: Buffer) => received.push(chunk));
  port.on('error', () => undefined);
  return {
    port,
    received,
    send: (text: string | Buffer) => new Promise<void>((resolve) => port.write(text, () => port.drain(() => resolve()))),
    close: () => new Promise<void>((resolve) => (port.isOpen ? port.close(() => resolve()) : resolve())),
  };
}
