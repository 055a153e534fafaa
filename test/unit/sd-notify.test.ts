import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createServiceNotifier, statusAssignment, watchdogInterval } from '../../src/service/sd-notify.ts';

test('watchdog interval is half of WATCHDOG_USEC, in ms', () => {
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
});

test('no watchdog when WATCHDOG_USEC is missing, invalid, or meant for another process', () => {
  assert.equal(watchdogInterval({}, 42), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 42), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '0' }, 42), undefined);
  assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), undefined);
});

test('STATUS= stays one bounded line', () => {
  assert.equal(statusAssignment('linked\nto the cloud'), 'STATUS=linked to the cloud');
  const long = statusAssignment('x'.repeat(500));
  assert.equal(long.length, 'STATUS='.length + 200);
  assert.ok(long.endsWith('...'));
});

test('without NOTIFY_SOCKET nothing is sent and no watchdog runs', () => {
  const sent: string[][] = [];
  const notifier = createServiceNotifier({ env: { WATCHDOG_USEC: '1000' }, send: (_socket, assignments) => Promise.resolve(void sent.push(assignments)) });
  notifier.ready('up');
  notifier.status('still up');
  notifier.startWatchdog();
  notifier.stopping();
  assert.equal(notifier.enabled, false);
  assert.equal(notifier.watchdogIntervalMs, undefined);
  assert.deepEqual(sent, []);
});

test('ready, status and stopping send the documented assignments to NOTIFY_SOCKET', async () => {
  const sent: Array<{ socket: string; assignments: string[] }> = [];
  const notifier = createServiceNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, send: (socket, assignments) => Promise.resolve(void sent.push({ socket, assignments })) });
  notifier.ready('2 sensors, linked');
  notifier.status('outbox 5 pending');
  notifier.stopping();
  await Promise.resolve();
  assert.deepEqual(sent, [
    { socket: '/run/x', assignments: ['READY=1', 'STATUS=2 sensors, linked'] },
    { socket: '/run/x', assignments: ['STATUS=outbox 5 pending'] },
    { socket: '/run/x', assignments: ['STOPPING=1'] },
  ]);
});

test('a failing sender is reported once, not at every ping', async () => {
  const warnings: unknown[] = [];
  const log = { warn: (...args: unknown[]) => void warnings.push(args), debug: () => undefined };
  const notifier = createServiceNotifier({ env: { NOTIFY_SOCKET: '/run/x' }, log, send: () => Promise.reject(new Error('spawn systemd-notify ENOENT')) });
  notifier.status('a');
  await new Promise((resolve) => setImmediate(resolve));
  notifier.status('b');
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(warnings.length, 1);
});
