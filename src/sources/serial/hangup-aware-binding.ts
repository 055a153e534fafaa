// node-serialport's Linux binding (@serialport/bindings-cpp 13.0.0) reads in a loop that takes a
// 0-byte read for "try again" (serialport/bindings-cpp#162, still open). A tty that was hung up, a
// USB adapter unplugged or a pty whose other end went away, returns 0 on every read: the port then
// spins on libuv's threadpool at full CPU and never reports the disconnect, so nothing reopens it.
// Seen here on socat ptys, one replug in a few dozen. This binding opens and reads the same way,
// but takes a 0-byte read for what it is on a non-blocking tty (no data is EAGAIN): the device hung
// up. The stream then closes the port as disconnected, and the caller reopens it with backoff.
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { autoDetect, LinuxBinding, type AutoDetectTypes, type LinuxBindingInterface, type LinuxPortBinding } from '@serialport/bindings-cpp';

const readAsync = promisify(read);

/** Errors the stream treats as a disconnect (closes the port) or as a cancellation (port closing). */
type BindingError = Error & { code?: string; errno?: number; disconnect?: boolean; canceled?: boolean };

const DISCONNECT_CODES = new Set(['EBADF', 'ENXIO', 'EIO', 'UNKNOWN']);

function canceled(): BindingError {
  return Object.assign(new Error('Port is not open'), { canceled: true });
}

function readable(port: LinuxPortBinding): Promise<void> {
  return new Promise((resolve, reject) => port.poller.once('readable', (error?: Error | null) => (error ? reject(error) : resolve())));
}

async function readUntilData(port: LinuxPortBinding, buffer: Buffer, offset: number, length: number): Promise<{ buffer: Buffer; bytesRead: number }> {
  for (;;) {
    if (port.fd === null) throw canceled();
    let bytesRead: number;
    try {
      ({ bytesRead } = await readAsync(port.fd, buffer, offset, length, null));
    } catch (caught) {
      const error = caught as BindingError;
      if (error.code === 'EAGAIN' || error.code === 'EWOULDBLOCK' || error.code === 'EINTR') {
        if (port.fd === null) throw canceled();
        await readable(port);
        continue;
      }
      if (DISCONNECT_CODES.has(error.code ?? '') || error.errno === -1) error.disconnect = true;
      throw error;
    }
    if (bytesRead === 0) throw Object.assign(new Error('the device hung up (end of file on the serial port)'), { disconnect: true });
    return { buffer, bytesRead };
  }
}

const hangupAwareLinuxBinding: LinuxBindingInterface = {
  list: () => LinuxBinding.list(),
  async open(options) {
    const port = await LinuxBinding.open(options);
    port.read = (buffer, offset, length) => readUntilData(port, buffer, offset, length);
    return port;
  },
};

/** The binding to open serial ports with: the hang-up-aware one on Linux, node-serialport's own elsewhere. */
export const serialBinding: AutoDetectTypes = process.platform === 'linux' ? hangupAwareLinuxBinding : autoDetect();
