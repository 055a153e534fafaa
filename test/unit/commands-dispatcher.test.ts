import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { z } from 'zod';
import type { Command } from '../../src/commands/command.ts';
import { Dispatcher } from '../../src/commands/dispatcher.ts';
import { CommandFailure, defineHandler } from '../../src/commands/handler.ts';
import { captureLog } from '../helpers/capture-log.ts';

const command = (name: string, params: unknown = {}, id = `${Math.random()}`): Command => ({ id, name, params, origin: 'test', replyTo: null });

function dispatcher(allow: string[] = ['echo', 'slow', 'fail']) {
  let runs = 0;
  const handlers = [
    defineHandler({ name: 'echo', description: '', params: z.strictObject({ text: z.string() }), run: (p) => (runs++, Promise.resolve({ text: p.text })) }),
    defineHandler({ name: 'slow', description: '', params: z.object({}), run: (_p, ctx) => new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve('aborted'))) }),
    defineHandler({ name: 'fail', description: '', params: z.object({}), run: () => Promise.reject(new CommandFailure(409, 'port busy')) }),
  ];
  const d = new Dispatcher({ handlers, allow, timeoutMs: 50, maxConcurrent: 2, log: captureLog().log });
  return { d, runs: () => runs };
}

describe('dispatcher', () => {
  it('runs an allowed command with valid params', async () => {
    const { d } = dispatcher();
    assert.deepEqual(await d.dispatch(command('echo', { text: 'hi' })), { ok: true, status: 200, data: { text: 'hi' } });
  });
  it('answers unknown commands with 404 and the known names', async () => {
    const r = await dispatcher().d.dispatch(command('format-disk'));
    assert.equal(r.status, 404);
    assert.match(r.message!, /unknown command "format-disk"; known: echo, fail, slow/);
  });
  it('refuses commands that are not allowed with 403', async () => {
    const r = await dispatcher(['slow']).d.dispatch(command('echo', { text: 'x' }));
    assert.equal(r.status, 403);
    assert.match(r.message!, /commands\.allow/);
  });
  it('answers bad params with 400 naming the field', async () => {
    const r = await dispatcher().d.dispatch(command('echo', { text: 5 }));
    assert.equal(r.status, 400);
    assert.match(r.message!, /text:/);
  });
  it('times out with 408', async () => {
    const r = await dispatcher().d.dispatch(command('slow'));
    assert.equal(r.status, 408);
  });
  it('passes a handler failure status through', async () => {
    assert.deepEqual(await dispatcher().d.dispatch(command('fail')), { ok: false, status: 409, message: 'port busy' });
  });
  it('answers a replayed id with the first result without running twice', async () => {
    const { d, runs } = dispatcher();
    const first = await d.dispatch(command('echo', { text: 'a' }, 'same'));
    const second = await d.dispatch(command('echo', { text: 'b' }, 'same'));
    assert.deepEqual(second, first);
    assert.equal(runs(), 1);
  });
  it('limits concurrent commands with 429', async () => {
    const { d } = dispatcher();
    const running = [d.dispatch(command('slow')), d.dispatch(command('slow'))];
    const third = await d.dispatch(command('slow'));
    assert.equal(third.status, 429);
    await Promise.all(running);
  });
});
