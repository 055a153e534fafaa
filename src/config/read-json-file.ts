// Small JSON files the agent wrote itself (credentials, remembered cloud settings, update state):
// read through O_NOFOLLOW with a size bound, and treated as absent when damaged.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** Far more than any file of this kind; a file larger than this was not written by the agent. */
const MAX_FILE_BYTES = 256 * 1024;

/** The parsed file, or undefined when it is absent, a link, too large or not JSON. */
export function readBoundedJson(path: string, options: { reviver?: (key: string, value: unknown) => unknown } = {}): unknown {
  let fd: number;
  try {
    // O_NOFOLLOW: the agent writes these files itself and never as links.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > MAX_FILE_BYTES) return undefined;
    const buffer = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const n = readSync(fd, buffer, read, size - read, read);
      if (n === 0) break;
      read += n;
    }
    return JSON.parse(buffer.subarray(0, read).toString('utf8'), options.reviver) as unknown;
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}
