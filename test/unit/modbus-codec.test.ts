import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeRegister, encodeRegister, planReads, type RegisterSpec } from '../../src/sources/modbus/register-codec.ts';

const spec = (name: string, address: number, type: RegisterSpec['type'], extra: Partial<RegisterSpec> = {}): RegisterSpec => ({ name, table: 'holding', address, type, wordOrder: 'big', byteOrder: 'big', ...extra });

describe('modbus register codec', () => {
  it('reads adjacent registers in one request, and splits far ones', () => {
    const plans = planReads([spec('a', 0, 'uint16'), spec('b', 1, 'float32'), spec('c', 5, 'int16'), spec('far', 500, 'uint16'), { ...spec('coil', 3, 'bool'), table: 'coils' }]);
    assert.deepEqual(plans.map((p) => [p.table, p.address, p.count, p.registers.map((r) => r.name)]), [
      ['coils', 3, 1, ['coil']],
      ['holding', 0, 6, ['a', 'b', 'c']],
      ['holding', 500, 1, ['far']],
    ]);
  });
  it('never plans a request over the protocol limit of 125 registers', () => {
    const plans = planReads(Array.from({ length: 100 }, (_, i) => spec(`r${i}`, i * 2, 'float32')));
    assert.ok(plans.every((p) => p.count <= 125));
  });
  it('decodes every type in every word and byte order', () => {
    const cases: [RegisterSpec['type'], number][] = [['int16', -1234], ['uint16', 54321], ['int32', -123456789], ['uint32', 3_000_000_000], ['float32', 21.5], ['float64', -12345.678901]];
    for (const wordOrder of ['big', 'little'] as const) {
      for (const byteOrder of ['big', 'little'] as const) {
        for (const [type, value] of cases) {
          const s = spec('x', 10, type, { wordOrder, byteOrder });
          const words = encodeRegister(s, value);
          const plan = { table: 'holding' as const, address: 10, count: words.length, registers: [s] };
          assert.equal(decodeRegister(s, plan, words), value, `${type} ${wordOrder}/${byteOrder}`);
        }
      }
    }
  });
  it('word order matters: a Modicon float read word-swapped is another number', () => {
    const words = encodeRegister({ type: 'float32', wordOrder: 'big', byteOrder: 'big' }, 21.5);
    const swapped = spec('x', 0, 'float32', { wordOrder: 'little' });
    assert.notEqual(decodeRegister(swapped, { table: 'holding', address: 0, count: 2, registers: [swapped] }, words), 21.5);
  });
  it('applies scale and offset', () => {
    const s = spec('t', 0, 'int16', { scale: 0.1, offset: -40 });
    assert.equal(decodeRegister(s, { table: 'holding', address: 0, count: 1, registers: [s] }, [615]), 21.5);
  });
});
