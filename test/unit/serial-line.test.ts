import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyFields, createDecoder } from '../../src/sources/serial/line-decoders.ts';
import { LineSplitter } from '../../src/sources/serial/line-splitter.ts';

describe('line splitter', () => {
  it('joins lines split across chunks and splits several in one chunk', () => {
    const s = new LineSplitter(Buffer.from('\r\n'), 100);
    assert.deepEqual(s.push(Buffer.from('t=1\r')).lines, []);
    assert.deepEqual(s.push(Buffer.from('\nt=2\r\nt=')).lines.map(String), ['t=1', 't=2']);
    assert.deepEqual(s.push(Buffer.from('3\r\n')).lines.map(String), ['t=3']);
  });
  it('drops an overlong line once, with its tail, and keeps memory bounded', () => {
    const s = new LineSplitter(Buffer.from('\n'), 8);
    const first = s.push(Buffer.from('x'.repeat(50)));
    assert.equal(first.overlong, 1);
    const second = s.push(Buffer.from('y'.repeat(50)));
    assert.equal(second.overlong, 0, 'the same line is counted once');
    assert.deepEqual(s.push(Buffer.from('zz\nok\n')).lines.map(String), ['ok']);
  });
});

describe('line decoders', () => {
  it('json, csv, kv and regex', () => {
    assert.deepEqual(createDecoder({ type: 'json' })('{"t":21.5,"ok":true,"nested":{"x":1}}'), { ok: true, values: { t: 21.5, ok: true } });
    assert.deepEqual(createDecoder({ type: 'csv', columns: ['t', '_', 'h'], separator: ',' })('21.5,skip, 40'), { ok: true, values: { t: '21.5', h: '40' } });
    assert.deepEqual(createDecoder({ type: 'kv', separator: '=' })('t=21.5 h=40'), { ok: true, values: { t: '21.5', h: '40' } });
    assert.deepEqual(createDecoder({ type: 'regex', pattern: 'T:(?<t>[-\\d.]+)C' })('T:-3.5C'), { ok: true, values: { t: '-3.5' } });
  });
  it('reports bad lines as values, never throws', () => {
    assert.equal(createDecoder({ type: 'json' })('{"t":').ok, false);
    assert.equal(createDecoder({ type: 'json' })('[1,2]').ok, false);
    assert.equal(createDecoder({ type: 'csv', columns: ['a', 'b'], separator: ',' })('1').ok, false);
    assert.equal(createDecoder({ type: 'kv', separator: '=' })('garbage').ok, false);
    assert.equal(createDecoder({ type: 'regex', pattern: '(?<t>\\d+)C' })('nothing').ok, false);
  });
  it('applies types, scale and offset', () => {
    assert.deepEqual(applyFields({ raw: '215', on: '1', name: 'x' }, { temp: { type: 'number', from: 'raw', scale: 0.1, offset: -1 }, on: { type: 'boolean' }, name: { type: 'string' } }), { ok: true, values: { temp: 20.5, on: true, name: 'x' } });
    assert.equal(applyFields({ t: 'abc' }, { t: { type: 'number' } }).ok, false);
    assert.deepEqual(applyFields({ t: '21.5', s: 'ok' }, undefined), { ok: true, values: { t: 21.5, s: 'ok' } });
  });
});
