// The one gate every adapter's incoming JSON passes: size and depth are refused before parsing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeCommandJson } from '../../src/cloud/adapters/mqtt-commands.ts';
import { decodeWaylayCommands } from '../../src/cloud/adapters/waylay/commands.ts';
import { readSentAt } from '../../src/cloud/adapters/command-timestamp.ts';
import { nestingExceeds, parseBoundedJson } from '../../src/cloud/bounded-json.ts';

const bounds = { maxBytes: 1024, maxDepth: 4 };

describe('bounded JSON', () => {
  it('parses what is small and shallow enough', () => {
    assert.deepEqual(parseBoundedJson(Buffer.from('{"a":[{"b":[1]}]}'), bounds), { ok: true, value: { a: [{ b: [1] }] } });
  });
  it('refuses a payload over the size before parsing, without quoting it', () => {
    const r = parseBoundedJson(Buffer.from(JSON.stringify({ name: 'x'.repeat(2000) })), bounds);
    assert.equal(r.ok, false);
    assert.equal(!r.ok && r.problem, 'size');
    assert.doesNotMatch(!r.ok ? r.reason : '', /xxx/);
  });
  it('refuses nesting deeper than the bound, counting brackets outside strings only', () => {
    assert.equal(nestingExceeds(Buffer.from('[[[[1]]]]'), 4), false);
    assert.equal(nestingExceeds(Buffer.from('[[[[[1]]]]]'), 4), true);
    assert.equal(nestingExceeds(Buffer.from('{"k":"[[[[[[\\"[[[["}'), 4), false);
    const deep = Buffer.from(`${'['.repeat(100_000)}${']'.repeat(100_000)}`);
    const r = parseBoundedJson(deep, { maxBytes: 1_000_000, maxDepth: 32 });
    assert.equal(!r.ok && r.problem, 'depth');
  });
  it('says "syntax" for what is not JSON', () => {
    const r = parseBoundedJson(Buffer.from('{"id": '), bounds);
    assert.equal(!r.ok && r.problem, 'syntax');
  });
});

describe('command decoders use it', () => {
  it('generic MQTT: a 2 MB command is answered 400 without parsing, a 128 KB name is cut in the reply', () => {
    const [big] = decodeCommandJson({ topic: 'c', payload: Buffer.alloc(2 * 1024 * 1024, 0x20) }, 'mqtt', 'replies');
    assert.equal(big!.kind, 'reply');
    const [long] = decodeCommandJson({ topic: 'c', payload: Buffer.from(JSON.stringify({ id: '1', name: 'n'.repeat(128 * 1024) })) }, 'mqtt', 'replies');
    assert.equal(long!.kind, 'reply');
    const payload = long!.kind === 'reply' ? String(long!.messages[0]!.payload) : '';
    assert.ok(payload.length < 400, `a ${payload.length}-character reply`);
  });
  it('generic MQTT and Waylay read "timestamp" or "ts" as sentAt', () => {
    const at = Date.UTC(2030, 5, 1, 12);
    const [a] = decodeCommandJson({ topic: 'c', payload: Buffer.from(JSON.stringify({ id: '1', name: 'ping', timestamp: at })) }, 'mqtt', 'replies');
    assert.equal(a!.kind === 'command' && a!.command.sentAt, at);
    const ctx = { resourceId: 'r', eventsTopic: 'e', fields: { name: ['command'], args: ['args'], id: ['id'] }, maxMessageBytes: 1024, timestamp: () => undefined, localId: () => 'l' };
    const [w] = decodeWaylayCommands(Buffer.from(JSON.stringify({ command: 'valve', ts: new Date(at).toISOString(), state: 'open' })), ctx);
    assert.equal(w!.kind === 'command' && w!.command.sentAt, at);
    assert.deepEqual(w!.kind === 'command' && w!.command.params, { state: 'open' });
  });
  it('refuses a timestamp it cannot read rather than guessing', () => {
    assert.deepEqual(readSentAt({}), {});
    for (const bad of [1_700_000_000, 'yesterday', 'x'.repeat(100_000), { at: 1 }, Number.NaN]) assert.ok('error' in readSentAt({ timestamp: bad }), JSON.stringify(bad).slice(0, 20));
    assert.deepEqual(readSentAt({ ts: '2030-06-01T12:00:00Z' }), { sentAt: Date.UTC(2030, 5, 1, 12) });
  });
});
