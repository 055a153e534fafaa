// Serial ports with their stable names, read straight from /dev/serial/by-id and /sys/class/tty,
// so it works on minimal images without udevadm (which SerialPort.list() needs).
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

export interface PortInfo {
  /** /dev/ttyUSB0 */
  device: string;
  /** /dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A50285BI-if00-port0: stable across reboots and replugging. */
  byId?: string;
  driver?: string;
  vendorId?: string;
  productId?: string;
  serialNumber?: string;
  product?: string;
}

export function listSerialPorts(root = '/'): PortInfo[] {
  const byIdDir = join(root, 'dev/serial/by-id');
  const stable = new Map<string, string>();
  if (existsSync(byIdDir)) {
    for (const name of readdirSync(byIdDir)) {
      const link = join(byIdDir, name);
      try {
        stable.set(basename(resolve(byIdDir, readlinkSync(link))), join('/dev/serial/by-id', name));
      } catch {
        // a dangling link: the adapter was just unplugged
      }
    }
  }
  const ports: PortInfo[] = [];
  const ttyDir = join(root, 'sys/class/tty');
  for (const name of existsSync(ttyDir) ? readdirSync(ttyDir).sort() : []) {
    const deviceDir = join(ttyDir, name, 'device');
    // Virtual consoles and ptys have no device; legacy 8250 UARTs without hardware report no driver port.
    if (!existsSync(deviceDir)) continue;
    const info: PortInfo = { device: `/dev/${name}` };
    const byId = stable.get(name);
    if (byId) info.byId = byId;
    const driver = safe(() => basename(realpathSync(join(deviceDir, 'driver'))));
    if (driver) info.driver = driver;
    if (driver === 'serial8250' && !byId && !existsSync(join(deviceDir, 'of_node'))) continue;
    // USB attributes live a few levels up from the tty's device.
    let dir = safe(() => realpathSync(deviceDir));
    for (let i = 0; dir && i < 4; i++, dir = join(dir, '..')) {
      const read = (file: string) => safe(() => readFileSync(join(dir!, file), 'utf8').trim());
      const vendor = read('idVendor');
      if (!vendor) continue;
      info.vendorId = vendor;
      const product = read('idProduct');
      if (product) info.productId = product;
      const serial = read('serial');
      if (serial) info.serialNumber = serial;
      const productName = read('product');
      if (productName) info.product = productName;
      break;
    }
    ports.push(info);
  }
  return ports;
}

export function formatPorts(ports: PortInfo[]): string {
  if (ports.length === 0) return 'no serial ports found (is the adapter plugged in? `dmesg | tail` shows what the kernel saw)';
  return ports
    .map((p) => {
      const usb = p.vendorId ? `  usb ${p.vendorId}:${p.productId ?? '?'}${p.product ? ` ${p.product}` : ''}${p.serialNumber ? ` serial ${p.serialNumber}` : ''}` : '';
      return `${p.byId ?? p.device}\n    device ${p.device}${p.driver ? `  driver ${p.driver}` : ''}${usb}`;
    })
    .join('\n');
}

function safe<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}
