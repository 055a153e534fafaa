import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { formatPorts, listSerialPorts } from '../../src/sources/serial/port-list.ts';

it('lists ports from /dev/serial/by-id and /sys/class/tty without udevadm', () => {
  const root = mkdtempSync(join(tmpdir(), 'edge-agent-ports-'));
  try {
    // A USB adapter as the kernel lays it out: tty -> device -> interface -> usb device with ids.
    const usb = join(root, 'sys/devices/usb1/1-1');
    const iface = join(usb, '1-1:1.0');
    const ttyDevice = join(iface, 'ttyUSB0');
    mkdirSync(ttyDevice, { recursive: true });
    mkdirSync(join(root, 'sys/bus/usb-serial/drivers/ftdi_sio'), { recursive: true });
    symlinkSync(join(root, 'sys/bus/usb-serial/drivers/ftdi_sio'), join(ttyDevice, 'driver'));
    for (const [file, value] of [['idVendor', '0403'], ['idProduct', '6001'], ['serial', 'A50285BI'], ['product', 'FT232R USB UART']]) writeFileSync(join(usb, file!), `${value}\n`);
    mkdirSync(join(root, 'sys/class/tty/ttyUSB0'), { recursive: true });
    symlinkSync(ttyDevice, join(root, 'sys/class/tty/ttyUSB0/device'));
    mkdirSync(join(root, 'sys/class/tty/tty1'), { recursive: true }); // a console: no device
    mkdirSync(join(root, 'dev/serial/by-id'), { recursive: true });
    symlinkSync('../../ttyUSB0', join(root, 'dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0'));
    const ports = listSerialPorts(root);
    assert.deepEqual(ports, [
      { device: '/dev/ttyUSB0', byId: '/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0', driver: 'ftdi_sio', vendorId: '0403', productId: '6001', serialNumber: 'A50285BI', product: 'FT232R USB UART' },
    ]);
    assert.match(formatPorts(ports), /^\/dev\/serial\/by-id\/usb-FTDI.*\n {4}device \/dev\/ttyUSB0 {2}driver ftdi_sio {2}usb 0403:6001 FT232R USB UART serial A50285BI$/);
    assert.match(formatPorts([]), /no serial ports found/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
