// Flash wear, as the kernel counts it: /proc/self/io `write_bytes` is what this process caused to be
// written to the block device (page-cache writeback charged to it), not what it handed to write():
// on a gateway that is the outbox above all, plus config and credential files. Logs go to journald,
// which is another process. See proc(5), /proc/pid/io.
import { readFileSync } from 'node:fs';

/** Bytes written to storage since the process started, or null where /proc/self/io cannot be read. */
export function storageWrittenBytes(readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): number | null {
  try {
    const match = /^write_bytes:\s*(\d+)$/m.exec(readFile('/proc/self/io'));
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}
