// Real ports for the commands that write to devices (serial.write, modbus.write): a line sensor on
// one pty pair and a Modbus slave on another, with the sensors' config to give the agent.
import { SerialPortStream } from '@serialport/stream';
import { serialBinding } from '../../src/sources/serial/hangup-aware-binding.ts';
import { startModbusSlave, type ModbusSlave } from './modbus-slave.ts';
import { ptyPair } from './pty-pair.ts';

export interface WriteTargets {
  sensors: Record<string, unknown>[];
  /** What the serial device end has received so far. */
  serialReceived(): string;
  slave: ModbusSlave;
  cleanup(): Promise<void>;
}

export async function startWriteTargets(): Promise<WriteTargets> {
  const serialPty = await ptyPair();
  const modbusPty = await ptyPair();
  const slave = await startModbusSlave(modbusPty.devicePath, [3]);
  const device = new SerialPortStream({ binding: serialBinding, path: serialPty.devicePath, baudRate: 9600, autoOpen: false });
  await new Promise<void>((resolve, reject) => device.open((e) => (e ? reject(e) : resolve())));
  let received = '';
  device.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
  device.on('error', () => undefined);
  return {
    sensors: [
      { id: 'display', type: 'serial-line', port: serialPty.sensorPath, decoder: { type: 'kv' } },
      { id: 'plc', type: 'modbus-rtu', port: modbusPty.sensorPath, unitId: 3, interval: '1h', timeout: '300ms', registers: [{ name: 'setpoint', function: 'holding', address: 10 }] },
    ],
    serialReceived: () => received,
    slave,
    async cleanup() {
      if (device.isOpen) await new Promise((resolve) => device.close(resolve));
      await slave.close();
      await serialPty.cleanup();
      await modbusPty.cleanup();
    },
  };
}
