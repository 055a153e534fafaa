import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { validateConfigObject } from '../../src/agent-config/load.ts';
import { builtinHandlers } from '../../src/commands/builtins/index.ts';
import type { UpdateRequests } from '../../src/commands/builtins/update-commands.ts';
import type { Command, CommandResult } from '../../src/commands/command.ts';
import { Dispatcher, type DispatcherOptions } from '../../src/commands/dispatcher.ts';
import { CommandAccepted, CommandFailure, defineHandler } from '../../src/commands/handler.ts';
import type { Outbox } from '../../src/outbox/outbox.ts';
import { captureLog } from '../helpers/capture-log.ts';

const command = (name: string, params: unknown = {}, id = `${Math.random()}`): Command => ({ id, name, params, origin: 'test', replyTo: null });

/** The result, which must be there (not dropped). */
async function answered(pending: Promise<CommandResult | undefined>): Promise<CommandResult> {
  const result = await pending;
  assert.ok(result, 'expected a reply, not a silent drop');
  return result;
}

function dispatcher(allow: string[] = ['echo', 'slow', 'fail'], options: Partial<DispatcherOptions> = {}) {
  let runs = 0;
  const handlers = [
    defineHandler({ name: 'echo', description: '', params: z.strictObject({ text: z.string() }), run: (p) => (runs++, Promise.resolve({ text: p.text })) }),
    defineHandler({ name: 'slow', description: '', params: z.object({}), run: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('aborted'))) }),
    defineHandler({ name: 'fail', description: '', params: z.object({}), run: () => Promise.reject(new CommandFailure(409, 'port busy')) }),
    defineHandler({ name: 'blob', description: '', params: z.strictObject({ chars: z.int() }), run: (p) => (runs++, Promise.resolve('x'.repeat(p.chars))) }),
  ];
  const captured = captureLog();
  const d = new Dispatcher({ handlers, allow, timeoutMs: 50, maxConcurrent: 2, log: captured.log, ...options });
  return { d, runs: () => runs, lines: captured.lines };
}

describe('dispatcher', () => {
  it('a handler that starts something answers 202, and is told who asked so the outcome can follow', async () => {
    let asked: unknown;
    const later = defineHandler({ name: 'later', description: '', params: z.object({}), run: (_p, ctx) => ((asked = ctx.requester), Promise.resolve(new CommandAccepted({ state: 'started' }))) });
    const d = new Dispatcher({ handlers: [later], allow: ['later'], timeoutMs: 50, log: captureLog().log, destination: 'scada' });
    assert.deepEqual(await d.dispatch({ id: 'l1', name: 'later', params: {}, origin: 'mqtt', replyTo: { topic: 'r' } }), { ok: true, status: 202, data: { state: 'started' } });
    assert.deepEqual(asked, { destination: 'scada', command: { id: 'l1', name: 'later', origin: 'mqtt', replyTo: { topic: 'r' } } });
  });
  it('runs an allowed command with valid params', async () => {
    const { d } = dispatcher();
    assert.deepEqual(await d.dispatch(command('echo', { text: 'hi' })), { ok: true, status: 200, data: { text: 'hi' } });
  });
  it('answers unknown commands with 404 and the names it may run', async () => {
    const r = await answered(dispatcher().d.dispatch(command('format-disk')));
    assert.equal(r.status, 404);
    assert.match(r.message!, /unknown command "format-disk"; allowed here: echo, fail, slow$/);
  });
  it('lists only allowed names in a 404, however many handlers there are', async () => {
    const r = await answered(dispatcher(['echo']).d.dispatch(command('format-disk')));
    assert.match(r.message!, /allowed here: echo$/);
    assert.doesNotMatch(r.message!, /slow|fail/);
  });
  it('lists only allowed names in a 404 with the real built-ins, leaving out scripts configured but not allowed (issue #16)', async () => {
    const script = { path: '/bin/true' };
    const config = validateConfigObject(
      { cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, commands: { allow: ['ping', 'status', 'script.backup'], scripts: { backup: script, wipe: script, 'open-valve': script } } },
      'the 404 test',
    );
    // A 404 runs nothing: none of what the handlers reach is needed to build them or to refuse.
    const unused = (): never => assert.fail('a 404 reached into the agent');
    const handlers = builtinHandlers({ snapshot: unused, config, rawConfig: unused, redactConfig: unused, applyConfigChange: unused, sources: () => [], outbox: {} as Outbox, requestRestart: unused, update: {} as UpdateRequests, log: captureLog().log });
    const names = handlers.map((h) => h.name);
    for (const name of ['script.wipe', 'script.open-valve', 'agent.restart', 'system.reboot', 'config.set']) assert.ok(names.includes(name), `${name} is a handler (${names.join(', ')})`);
    const d = new Dispatcher({ handlers, allow: config.commands.allow, timeoutMs: 50, log: captureLog().log });
    const r = await answered(d.dispatch(command('script.erase')));
    assert.equal(r.status, 404);
    assert.match(r.message!, /^unknown command "script\.erase"; allowed here: ping, script\.backup, status$/);
    assert.doesNotMatch(r.message!, /wipe|open-valve|restart|reboot|config|update|purge|write/);
  });
  it('refuses commands that are not allowed with 403', async () => {
    const r = await answered(dispatcher(['slow']).d.dispatch(command('echo', { text: 'x' })));
    assert.equal(r.status, 403);
    assert.match(r.message!, /commands\.allow/);
  });
  it('answers bad params with 400 naming the field', async () => {
    const r = await answered(dispatcher().d.dispatch(command('echo', { text: 5 })));
    assert.equal(r.status, 400);
    assert.match(r.message!, /text:/);
  });
  it('times out with 408', async () => {
    const r = await answered(dispatcher().d.dispatch(command('slow')));
    assert.equal(r.status, 408);
  });
  it('passes a handler failure status through', async () => {
    assert.deepEqual(await answered(dispatcher().d.dispatch(command('fail'))), { ok: false, status: 409, message: 'port busy' });
  });
  it('answers a replayed id with the first result without running twice', async () => {
    const { d, runs } = dispatcher();
    const first = await d.dispatch(command('echo', { text: 'a' }, 'same'));
    const second = await d.dispatch(command('echo', { text: 'b' }, 'same'));
    assert.deepEqual(second, first);
    assert.equal(runs(), 1);
  });
  it('limits concurrent commands: a few wait for a slot in order, more are answered 429', async () => {
    const { d } = dispatcher(undefined, { maxWaiting: 1 });
    const running = [d.dispatch(command('slow')), d.dispatch(command('slow'))];
    const waiting = d.dispatch(command('echo', { text: 'queued' }));
    const third = await answered(d.dispatch(command('slow')));
    assert.equal(third.status, 429);
    assert.match(third.message ?? '', /^busy: 2 commands are running and 1 waiting/);
    // The slow ones end at the 50 ms timeout; the queued echo then runs.
    assert.deepEqual(await waiting, { ok: true, status: 200, data: { text: 'queued' } });
    await Promise.all(running);
  });
  it('a burst of quick commands (what a persistent session hands over after a blip) all run', async () => {
    const { d, runs } = dispatcher();
    const results = await Promise.all(Array.from({ length: 32 }, (_, i) => answered(d.dispatch(command('echo', { text: String(i) })))));
    assert.deepEqual(results.map((r) => r.status), Array(32).fill(200));
    assert.equal(runs(), 32);
  });
  it('a command that finds no slot within the command timeout is answered 429', async () => {
    const { d } = dispatcher(undefined, { maxWaiting: 4, maxConcurrent: 1 });
    const slow = d.dispatch(command('slow'));
    const slowAgain = d.dispatch(command('slow'));
    const third = d.dispatch(command('slow'));
    assert.equal((await answered(slow)).status, 408);
    // slowAgain got the slot at 50 ms and ends at 100; the third waited 50 ms and gave up.
    assert.equal((await answered(third)).status, 429);
    assert.equal(d.stats().running, 1, 'the slot passed to slowAgain: never two at once with maxConcurrent 1');
    assert.equal((await answered(slowAgain)).status, 408);
    assert.equal(d.stats().running, 0);
  });
  it('a command arriving as a slot frees does not jump ahead of one already waiting', async () => {
    const { d } = dispatcher(undefined, { maxWaiting: 4, maxConcurrent: 1 });
    const order: string[] = [];
    const slow = d.dispatch(command('slow'));
    const first = d.dispatch(command('echo', { text: 'first' })).then(() => order.push('first'));
    await slow;
    // The slow one has ended; the waiting echo holds its slot even before it has run.
    const second = d.dispatch(command('echo', { text: 'second' })).then(() => order.push('second'));
    await Promise.all([first, second]);
    assert.deepEqual(order, ['first', 'second']);
    assert.equal(d.stats().running, 0);
  });
});

/** Every log line the dispatcher wrote, as JSON text. */
const longestLine = (lines: Record<string, unknown>[]) => Math.max(0, ...lines.map((l) => JSON.stringify(l).length));

describe('dispatcher bounds (issue #16)', () => {
  const huge = 'n'.repeat(128 * 1024);

  it('cuts a 128 KB command name in the reply and the log', async () => {
    const { d, lines } = dispatcher();
    const r = await answered(d.dispatch(command(huge)));
    assert.equal(r.status, 400);
    assert.match(r.message!, /^the command name "n{64}… \(131072 characters\)" is longer than 128 characters$/);
    assert.ok(longestLine(lines) < 1024, `a log line of ${longestLine(lines)} characters`);
  });

  it('quotes at most 64 characters of an unknown name', async () => {
    const r = await answered(dispatcher().d.dispatch(command('u'.repeat(100))));
    assert.equal(r.status, 404);
    assert.match(r.message!, /^unknown command "u{64}… \(100 characters\)"/);
  });

  it('refuses a 128 KB parameter key without echoing it, at any depth', async () => {
    const { d, lines, runs } = dispatcher();
    for (const params of [{ [huge]: 1 }, { text: 'x', deeper: [{ [huge]: true }] }]) {
      const r = await answered(d.dispatch(command('echo', params)));
      assert.equal(r.status, 400);
      assert.ok(r.message!.length < 400, r.message);
      assert.match(r.message!, /the key "n{64}… \(131072 characters\)" is longer than 128 characters/);
    }
    assert.equal(runs(), 0);
    assert.ok(longestLine(lines) < 1024, `a log line of ${longestLine(lines)} characters`);
  });

  it('cuts what the validator says about keys it does not know', async () => {
    const r = await answered(dispatcher().d.dispatch(command('echo', Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`unexpected_${'k'.repeat(100)}_${i}`, i])))));
    assert.equal(r.status, 400);
    assert.ok(r.message!.length < 700, `${r.message!.length} characters`);
  });

  it('refuses an over-long id and over-deep params', async () => {
    const { d } = dispatcher();
    assert.equal((await answered(d.dispatch(command('echo', { text: 'x' }, 'i'.repeat(129))))).status, 400);
    let deep: unknown = 'bottom';
    for (let i = 0; i < 40; i++) deep = { a: deep };
    const r = await answered(d.dispatch(command('echo', deep)));
    assert.equal(r.status, 400);
    assert.match(r.message!, /nested more than 32 levels/);
  });

  it('bounds the replay cache by bytes, keeping a digest of a large result', async () => {
    const { d, runs } = dispatcher(['blob'], { rate: { perSecond: 10_000, burst: 10_000 }, replayCache: { maxBytes: 256 * 1024, maxResultBytes: 64 * 1024 } });
    const first = await answered(d.dispatch(command('blob', { chars: 100_000 }, 'big')));
    assert.equal((first.data as string).length, 100_000);
    const replay = await answered(d.dispatch(command('blob', { chars: 100_000 }, 'big')));
    assert.equal(runs(), 1, 'a replay must not run again');
    assert.equal(replay.ok, true);
    assert.equal(replay.data, undefined);
    assert.match(replay.message!, /too large to keep for replays/);
    for (let i = 0; i < 200; i++) await d.dispatch(command('blob', { chars: 20_000 }, `mid-${i}`));
    const { bytes, entries } = d.replayCacheSize();
    assert.ok(bytes <= 256 * 1024, `${bytes} bytes cached`);
    assert.ok(entries < 10, `${entries} entries cached`);
    // The newest is still answered from memory.
    await d.dispatch(command('blob', { chars: 20_000 }, 'mid-199'));
    assert.equal(runs(), 201);
  });

  it('does not cache refusals, so a flood of them leaves the cache alone', async () => {
    const { d } = dispatcher();
    for (let i = 0; i < 20; i++) await d.dispatch(command(`nope-${i}`));
    assert.deepEqual(d.replayCacheSize(), { entries: 0, bytes: 0 });
  });

  it('answers 429 beyond the rate, then drops without a reply, and recovers', async () => {
    let now = 1_000_000;
    const { d, lines } = dispatcher(['echo'], { rate: { perSecond: 2, burst: 3 }, now: () => now });
    let accepted = 0;
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await d.dispatch(command('echo', { text: 'x' }), { accepted: () => accepted++ }));
    assert.deepEqual(
      results.map((r) => r?.status),
      [200, 200, 200, 429, 429, 429, undefined, undefined, undefined, undefined],
    );
    assert.equal(accepted, 3, 'only admitted commands are announced as accepted');
    assert.equal(d.dropped(), 4);
    assert.equal(d.stats().refused, 7);
    // Logged once per minute, not once per command.
    assert.equal(lines.filter((l) => l.event === 'command-rate-limited').length, 1);
    assert.equal(lines.filter((l) => l.event === 'command-flood-dropped').length, 1);
    now += 1000;
    assert.equal((await d.dispatch(command('echo', { text: 'x' })))?.status, 200);
    assert.equal(d.admitUnreadable(), true);
    assert.equal(d.admitUnreadable(), true, 'an unreadable message over the rate is still answered (429 budget)');
  });

  it('refuses a command sent longer ago than maxAge with 410, saying how old', async () => {
    const now = Date.UTC(2030, 0, 1);
    const { d, runs } = dispatcher(['echo'], { maxAgeMs: 10 * 60_000, now: () => now, clockSynchronized: () => true });
    const late = await answered(d.dispatch({ ...command('echo', { text: 'open' }), sentAt: now - 2 * 3600_000 - 5000 }));
    assert.equal(late.status, 410);
    assert.match(late.message!, /sent 2h 5s ago, longer than commands\.maxAge \(10m\)/);
    assert.equal(runs(), 0);
    assert.equal((await answered(d.dispatch({ ...command('echo', { text: 'open' }), sentAt: now - 60_000 }))).status, 200);
    assert.equal((await answered(d.dispatch(command('echo', { text: 'no timestamp' })))).status, 200);
  });

  it('runs old commands while the clock is not synchronised, and says so once', async () => {
    const now = 1000;
    const { d, lines } = dispatcher(['echo'], { maxAgeMs: 60_000, now: () => now, clockSynchronized: () => false });
    for (let i = 0; i < 3; i++) assert.equal((await answered(d.dispatch({ ...command('echo', { text: 'x' }), sentAt: Date.UTC(2030, 0, 1) - 3600_000 }))).status, 200);
    assert.equal(lines.filter((l) => l.event === 'command-age-unchecked').length, 1);
  });
});
