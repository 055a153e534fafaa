// The notify protocol end to end without systemd: a Unix datagram socket bound by python3 plays
// systemd's NOTIFY_SOCKET, a child process runs the real notifier (which sends through the real
// systemd-notify), and the test watches READY=1 and WATCHDOG=1 arrive, then stop while the
// child's event loop is blocked, then resume.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { after, test } from 'node:test';

const NOTIFIER = resolve(import.meta.dirname, '../../src/service/sd-notify.ts');
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-notify-'));
const children: ChildProcess[] = [];
after(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

type Event = { from: 'socket' | 'agent'; text: string };

function lines(child: ChildProcess, from: Event['from'], events: Event[], wake: () => void): void {
  createInterface({ input: child.stdout! }).on('line', (text) => {
    events.push({ from, text });
    wake();
  });
}

test('READY=1 and WATCHDOG=1 reach the notify socket; pings stop while the event loop is blocked', async () => {
  const socket = join(dir, 'notify.sock');
  const events: Event[] = [];
  let wake = () => {};
  const until = (predicate: () => boolean, what: string, timeoutMs = 20_000) =>
    new Promise<void>((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`)), timeoutMs);
      const check = () => {
        if (!predicate()) return;
        clearTimeout(timer);
        resolvePromise();
      };
      wake = check;
      check();
    });

  // Prints every datagram on one line (newlines inside a message become spaces).
  const fakeSystemd = spawn('python3', ['-u', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print('bound', flush=True)
while True:
    print(s.recv(4096).decode().replace('\\n', ' '), flush=True)
`, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(fakeSystemd);
  lines(fakeSystemd, 'socket', events, () => wake());
  await until(() => events.some((e) => e.text === 'bound'), 'the fake notify socket');

  const agent = spawn(process.execPath, ['--input-type=module', '-e', `
import { createServiceNotifier } from ${JSON.stringify(NOTIFIER)};
import { createInterface } from 'node:readline';
const notifier = createServiceNotifier({ log: { warn: (...a) => console.error(...a), debug: () => {} } });
notifier.ready('sources and outbox up');
notifier.startWatchdog();
console.log('ready');
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'block') {
    console.log('blocking');
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
    console.log('unblocked');
  } else if (line === 'stop') {
    notifier.stopping();
    // Alive 0.5 s after STOPPING=1 (the scenario, not a wait): long enough for new pings to show.
    setTimeout(() => process.exit(0), 500);
  }
});
`], { env: { ...process.env, NOTIFY_SOCKET: socket, WATCHDOG_USEC: '200000' }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(agent);
  lines(agent, 'agent', events, () => wake());

  const pings = () => events.filter((e) => e.from === 'socket' && e.text.includes('WATCHDOG=1')).length;
  await until(() => events.some((e) => e.from === 'socket' && e.text.startsWith('READY=1')), 'READY=1');
  assert.ok(events.some((e) => e.text === 'READY=1 STATUS=sources and outbox up'), 'READY=1 carries the status line');
  await until(() => pings() >= 3, 'three watchdog pings');

  agent.stdin.write('block\n');
  await until(() => events.some((e) => e.text === 'unblocked'), 'the child to block and unblock');
  const blockedFrom = events.findIndex((e) => e.text === 'blocking');
  const blockedTo = events.findIndex((e) => e.text === 'unblocked');
  const duringBlock = events.slice(blockedFrom, blockedTo).filter((e) => e.from === 'socket' && e.text.includes('WATCHDOG=1')).length;
  // 1.5 s at one ping per 100 ms would be ~15; at most the one already in flight may land.
  assert.ok(duringBlock <= 1, `pings while blocked: ${duringBlock}`);

  const afterBlock = pings();
  await until(() => pings() >= afterBlock + 2, 'pings to resume after the block');

  agent.stdin.write('stop\n');
  await until(() => events.some((e) => e.from === 'socket' && e.text.startsWith('STOPPING=1')), 'STOPPING=1');
  const stoppedAt = events.findIndex((e) => e.from === 'socket' && e.text.startsWith('STOPPING=1'));
  await new Promise((r) => agent.once('exit', r));
  // A ping already in flight when STOPPING=1 was sent may still land; no new ones start.
  assert.ok(events.slice(stoppedAt + 1).filter((e) => e.from === 'socket' && e.text.includes('WATCHDOG=1')).length <= 1, 'no new pings after STOPPING=1');
});
