// How a partial config from the cloud (config.set, Azure desired properties, Xyte config pushes)
// is merged into the file's config, and how the agent tells a change from a resend of the same.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { mergeConfig, sameConfig } from '../../src/config/write.ts';

const fileText = JSON.stringify({ cloud: { provider: 'mqtt', url: 'mqtt://broker.example:1883' }, sensors: [{ id: 'room', type: 'simulated', interval: '1s' }] });

describe('config merge', () => {
  it('merges objects key by key, replaces arrays and scalars, and deletes with null', () => {
    const merged = mergeConfig({ a: { b: 1, c: 2 }, list: [1, 2], gone: true }, { a: { c: 3 }, list: [9], gone: null, added: 'x' });
    assert.deepEqual(merged, { a: { b: 1, c: 3 }, list: [9], added: 'x' });
  });

  it('keeps a "__proto__" key from the cloud as a key, never as the prototype', () => {
    const merged = mergeConfig({ outbox: {} }, JSON.parse('{"__proto__": {"polluted": true}, "outbox": {"__proto__": {"x": 1}}}')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(merged), Object.prototype);
    assert.equal((merged as { polluted?: unknown }).polluted, undefined);
    assert.deepEqual(Object.keys(merged), ['outbox', '__proto__']);
    assert.deepEqual(Object.keys(merged.outbox as object), ['__proto__']);
  });

  it('sees a patch that changes nothing in the parsed file as no change', () => {
    // The file's parser builds objects without a prototype: a plain-object copy of the same JSON must still be "the same".
    const { raw } = parseConfigText(fileText);
    assert.equal(sameConfig(mergeConfig(raw, {}), raw), true);
    assert.equal(sameConfig(mergeConfig(raw, JSON.parse(fileText)), raw), true);
    assert.equal(sameConfig(mergeConfig(raw, { cloud: { provider: 'mqtt' }, nothing: null }), raw), true);
    assert.equal(sameConfig(mergeConfig(raw, { sensors: [{ id: 'room', type: 'simulated', interval: '2s' }] }), raw), false);
    assert.equal(sameConfig(mergeConfig(raw, { cloud: null }), raw), false);
  });
});
