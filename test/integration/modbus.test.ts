// Modbus RTU over a real pty pair: a simulated slave answering two unit ids on one bus, every
// register type and word order, exceptions and timeouts counted per slave, and writes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { encodeRegister } from '../../src/sources/modbus/register-codec.ts';
import { modbusRtuSource } from '../../src/sources/modbus/modbus-rtu.ts';
import type { Reading } from '../../src/sources/reading.ts';
import type { Source } from '../../src/sources/source.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { startModbusSlave, type ModbusSlave } from '../helpers/modbus-slave.ts';
import { ptyPair, type PtyPair } from '../helpers/pty-pair.ts';

const TYPES = [
  ['int16', -1234],
  ['uint16', 54321],
  ['int32', -123456789],
  ['uint32', 3_000_000_000],
  ['float32', 21.5],
  ['float64', -12345.678901],
] as const;

describe('modbus-rtu on a pty bus', { timeout: 60_000 }, () => {
  let pty: PtyPair;
  let slave: ModbusSlave;
  const sources: Source[] = [];
  const readings: Reading[] = [];

  before(async () => {
    pty = await ptyPair();
    slave = await startModbusSlave(pty.devicePath, [1, 2]);
  });
  after(async () => {
    for (const source of sources) await source.stop();
    await slave.close();
    await pty.cleanup();
  });

  function create(sensor: Record<string, unknown>): Source {
    const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ type: 'modbus-rtu', port: pty.sensorPath, interval: '1h', timeout: '300ms', ...sensor }] }));
    const source = modbusRtuSource.create(config.sensors[0] as never, { log: captureLog().log, emit: (r) => readings.push(r), now: Date.now, clockSynchronized: () => true });
    sources.push(source);
    return source;
  }

  it('reads every register type in every word and byte order, from two unit ids on one bus', async () => {
    const registers: Record<string, unknown>[] = [];
    const expected: Record<string, number | boolean> = {};
    let address = 0;
    for (const wordOrder of ['big', 'little'] as const) {
      for (const byteOrder of ['big', 'little'] as const) {
        for (const [type, value] of TYPES) {
          const name = `${type}_${wordOrder}_${byteOrder}`;
          const words = encodeRegister({ type, wordOrder, byteOrder }, value);
          words.forEach((w, i) => (slave.units.get(1)!.holding[address + i] = w));
          words.forEach((w, i) => (slave.units.get(2)!.input[address + i] = w));
          registers.push({ name, function: 'holding', address, type, wordOrder, byteOrder });
          expected[name] = value;
          address += words.length;
        }
      }
    }
    slave.units.get(1)!.coils[3] = true;
    slave.units.get(1)!.discrete[7] = true;
    slave.units.get(1)!.holding[200] = 615;
    const unit1 = create({ id: 'meter1', unitId: 1, registers: [...registers, { name: 'coil3', function: 'coils', address: 3 }, { name: 'in7', function: 'discrete', address: 7 }, { name: 'temp', function: 'holding', address: 200, type: 'int16', scale: 0.1, offset: -40 }] });
    const unit2 = create({ id: 'meter2', unitId: 2, registers: registers.map((r) => ({ ...r, function: 'input' })) });
    await unit1.start();
    await unit2.start();
    // Both at once: the shared bus must serialize them.
    const [[r1], [r2]] = await Promise.all([unit1.readNow!(), unit2.readNow!()]);
    assert.deepEqual(r1!.values, { ...expected, coil3: true, in7: true, temp: 21.5 });
    assert.deepEqual(r2!.values, expected);
    assert.ok((slave.requests.get(1) ?? 0) > 0 && (slave.requests.get(2) ?? 0) > 0);
    assert.equal(unit1.stats().ioErrors, 0);
  });

  it('counts exceptions and timeouts per slave without stopping', async () => {
    slave.failAddress = 300;
    const failing = create({ id: 'bad-register', unitId: 1, retries: 0, registers: [{ name: 'x', function: 'holding', address: 300 }] });
    const absent = create({ id: 'absent', unitId: 9, retries: 1, registers: [{ name: 'x', function: 'holding', address: 0 }] });
    await failing.start();
    await absent.start();
    assert.deepEqual(await failing.readNow!(), []);
    assert.deepEqual(await absent.readNow!(), []);
    assert.equal(failing.stats().extra!['unit1.exceptions'], 1);
    assert.match(failing.stats().lastError!, /exception 2/);
    assert.equal(absent.stats().extra!['unit9.timeouts'], 1);
    assert.equal(absent.stats().extra!.requests, 2, 'one retry');
    // The bus still works for the healthy slave.
    const healthy = create({ id: 'healthy', unitId: 2, registers: [{ name: 'x', function: 'input', address: 0, type: 'int16' }] });
    await healthy.start();
    assert.equal((await healthy.readNow!())[0]!.values.x, -1234);
  });

  it('writes holding registers and coils', async () => {
    const writer = create({ id: 'writer', unitId: 2, registers: [{ name: 'sp', function: 'holding', address: 50 }, { name: 'relay', function: 'coils', address: 5 }] });
    await writer.start();
    await writer.writeModbus!({ table: 'holding', address: 50, values: [1234] });
    await writer.writeModbus!({ table: 'coils', address: 5, values: [true] });
    assert.deepEqual((await writer.readNow!())[0]!.values, { sp: 1234, relay: true });
  });
});
