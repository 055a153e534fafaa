// Line sensors on real pseudo-terminals (socat): every decoder, a poll-style sensor, unplugging
// and replugging 20 times, and 1 MB of garbage.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { readSync } from 'node:fs';
import { parseConfigText } from '../../src/agent-config/load.ts';
import type { Reading } from '../../src/sources/reading.ts';
import { serialBinding } from '../../src/sources/serial/hangup-aware-binding.ts';
import { serialLineSource } from '../../src/sources/serial/serial-line.ts';
import type { Source } from '../../src/sources/source.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { openDevice, ptyPair } from '../helpers/pty-pair.ts';
import { waitUntil } from '../helpers/wait.ts';

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function sensor(sensorConfig: Record<string, unknown>) {
  const pty = await ptyPair();
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 's', type: 'serial-line', port: pty.sensorPath, ...sensorConfig }] }));
  const readings: Reading[] = [];
  const captured = captureLog();
  const source: Source = serialLineSource.create(config.sensors[0] as never, { log: captured.log, emit: (r) => readings.push(r), now: Date.now, clockSynchronized: () => true });
  await source.start();
  const device = await openDevice(pty);
  cleanups.push(async () => {
    await source.stop();
    if (device.port.isOpen) await new Promise((r) => device.port.close(r));
    await pty.cleanup();
  });
  const waitFor = (count: number, timeoutMs = 5000) => waitUntil(() => readings.length >= count, timeoutMs, () => `${count} readings (have ${readings.length})`, 10);
  // The sensor side opens asynchronously, and a line sent before it is open is lost. Writing nothing
  // fails at once until the port is open, and sends no byte once it is.
  await waitUntil(() => source.write!(Buffer.alloc(0)).then(() => true, () => false), 5000, 'the sensor side of the pty to open');
  return { pty, source, readings, device, waitFor, captured };
}


describe('serial-line sensors on ptys', { timeout: 120_000 }, () => {
  it('json lines, split across writes, with scaling', async () => {
    const s = await sensor({ decoder: { type: 'json' }, fields: { temp: { type: 'number', scale: 0.1 }, state: { type: 'string' } } });
    await s.device.send('{"temp": 215, "sta');
    await s.device.send('te": "ok"}\n{"temp": 200}\n');
    await s.waitFor(2);
    assert.deepEqual(s.readings.map((r) => r.values), [{ temp: 21.5, state: 'ok' }, { temp: 20 }]);
  });

  it('csv, kv and regex', async () => {
    const csv = await sensor({ decoder: { type: 'csv', columns: ['t', 'h'] }, delimiter: '\r\n' });
    await csv.device.send('21.5,40\r\n');
    const kv = await sensor({ decoder: { type: 'kv' } });
    await kv.device.send('t=21.5 h=40\n');
    const re = await sensor({ decoder: { type: 'regex', pattern: 'T=(?<t>[-0-9.]+) H=(?<h>[0-9.]+)' } });
    await re.device.send('SENSOR T=-4.5 H=88 OK\n');
    await Promise.all([csv.waitFor(1), kv.waitFor(1), re.waitFor(1)]);
    assert.deepEqual(csv.readings[0]!.values, { t: 21.5, h: 40 });
    assert.deepEqual(kv.readings[0]!.values, { t: 21.5, h: 40 });
    assert.deepEqual(re.readings[0]!.values, { t: -4.5, h: 88 });
  });

  it('polls a request-response sensor and counts a missing answer', async () => {
    const s = await sensor({ decoder: { type: 'kv' }, request: { text: 'READ\\r\\n', interval: '200ms', timeout: '150ms' } });
    let answered = 0;
    s.device.port.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('READ') && ++answered <= 3) void s.device.send(`v=${answered}\n`);
    });
    await s.waitFor(3);
    assert.deepEqual(s.readings.slice(0, 3).map((r) => r.values.v), [1, 2, 3]);
    await waitUntil(() => s.source.stats().ioErrors >= 1, 5000, 'a poll without an answer (the fourth) to time out');
    assert.ok(s.source.stats().ioErrors >= 1, 'a poll without an answer is counted');
    const manual = s.source.readNow!();
    await assert.rejects(manual, /did not answer/);
  });

  it('survives 20 unplug/replug cycles; readings resume each time and another sensor keeps flowing', async () => {
    const moving = await sensor({ decoder: { type: 'kv' } });
    const steady = await sensor({ decoder: { type: 'kv' } });
    let steadyCount = 0;
    const ticker = setInterval(() => void steady.device.send(`n=${++steadyCount}\n`), 50);
    const resumeMs: number[] = [];
    // Lines sent before the sensor side has reopened are lost with the old pty (as with a real
    // adapter), so each cycle repeats its own marker until that very reading arrives; counting
    // readings instead would be thrown off by a repeat still in flight.
    const untilRead = async (marker: number, since: number) => {
      while (!moving.readings.some((r) => r.values.cycle === marker)) {
        if (Date.now() - since > 10_000) throw new Error(`cycle ${marker}: no reading 10 s after replug; the sensor logged: ${moving.captured.lines.slice(-6).map((l) => JSON.stringify({ event: l.event, reason: l.reason, time: l.time })).join(' ')} at ${new Date().toISOString()}`);
        await moving.device.send(`cycle=${marker}\n`);
        // The device's pacing (part of the scenario): it repeats its line every 50 ms.
        await sleep(50);
      }
      return Date.now() - since;
    };
    try {
      await untilRead(0, Date.now());
      for (let cycle = 1; cycle <= 20; cycle++) {
        const lost = moving.source.stats().ioErrors;
        if (moving.device.port.isOpen) await new Promise((r) => moving.device.port.close(r));
        await moving.pty.unplug();
        // How long the adapter stays unplugged is the scenario, not a wait for an event.
        await sleep(100);
        if (cycle === 1) {
          await waitUntil(() => moving.source.stats().ioErrors > lost, 5000, 'the sensor to notice the unplug');
          await assert.rejects(moving.source.write!(Buffer.from('x')), /is not open/, 'writes fail at once while unplugged');
        }
        await moving.pty.plug();
        const replugged = Date.now();
        const device = await openDevice(moving.pty);
        moving.device.port = device.port;
        moving.device.send = device.send;
        resumeMs.push(await untilRead(cycle, replugged));
      }
    } finally {
      clearInterval(ticker);
    }
    process.stdout.write(`# resume after replug: max ${Math.max(...resumeMs)} ms, median ${resumeMs.sort((a, b) => a - b)[10]} ms\n`);
    assert.ok(Math.max(...resumeMs) < 2000, `readings resumed within 2 s each time: ${resumeMs.join(', ')}`);
    assert.ok(steady.readings.length >= steadyCount - 2, 'the other sensor kept flowing');
    assert.ok(moving.source.stats().ioErrors >= 20);
  });

  it('takes end of file on a hung-up port for a disconnect (node-serialport alone spins on it forever)', async () => {
    const pty = await ptyPair();
    cleanups.push(() => pty.cleanup());
    const port = await serialBinding.open({ path: pty.sensorPath, baudRate: 9600 });
    await pty.unplug();
    // What the kernel answers a read on a tty whose other end hung up: 0 bytes, again and again
    // (before the hang-up, a read of this non-blocking tty fails with EAGAIN).
    const read = () => {
      try {
        return readSync(port.fd!, Buffer.alloc(16));
      } catch (error) {
        return (error as NodeJS.ErrnoException).code;
      }
    };
    await waitUntil(() => read() !== 'EAGAIN', 5000, 'the hang-up to reach the tty');
    assert.equal(read(), 0);
    // node-serialport's own read would retry those 0-byte reads forever: give up on it after 5 s.
    let guard: NodeJS.Timeout | undefined;
    const spinning = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('still reading 5 s after the hang-up')), 5000)));
    await assert.rejects(Promise.race([port.read(Buffer.alloc(16), 0, 16), spinning]), (error: Error & { disconnect?: boolean }) => error.disconnect === true && /hung up/.test(error.message));
    clearTimeout(guard);
    await port.close();
  });

  it('counts 1 MB of random bytes and malformed frames without crashing', async () => {
    const s = await sensor({ decoder: { type: 'json' }, maxLineLength: 256 });
    for (let i = 0; i < 64; i++) {
      await s.device.send(randomBytes(16 * 1024));
      await s.device.send(['{"t":', '{"t": 1}}\n', '\u0000\u00ff\n', 'x'.repeat(1000) + '\n', '[1,2]\n'][i % 5]!);
    }
    await s.device.send('\n{"t": 42}\n');
    await waitUntil(() => s.readings.some((r) => r.values.t === 42), 10_000, 'the reading after the garbage (has the sensor stopped reading?)');
    const stats = s.source.stats();
    assert.ok(stats.parseErrors > 100, `parse errors counted: ${stats.parseErrors}`);
  });
});
