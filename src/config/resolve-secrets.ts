// The one step that reads secrets: after the config validated, every {"file"} and {"env"} secret is
// read (and the TLS files the config names are checked, src/agent-config/file-checks.ts), so
// parsing itself stays pure: redaction validates without touching a file. A secret file is bounded like every other input: a regular file of at most
// MAX_SECRET_FILE_BYTES, opened without blocking, since {"file": "/dev/zero"} or a fifo would
// otherwise hang the agent (and its watchdog) while it starts.
import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';
import bytes from 'bytes';
import type { JsonPath } from './locate.ts';
import { Secret } from './primitives.ts';

/** A password, a key or a connection string is a few hundred bytes; a PEM bundle is not a secret field. */
export const MAX_SECRET_FILE_BYTES = 64 * 1024;

export interface SecretProblem {
  path: JsonPath;
  message: string;
}

/**
 * Returns the config with every {file} and {env} secret read, and what could not be read, each at
 * its JSON path. Plain objects and arrays are copied on the way; everything else is kept as is.
 */
export function resolveSecrets<T>(config: T): { config: T; problems: SecretProblem[] } {
  const problems: SecretProblem[] = [];
  const path: JsonPath = [];
  // An object reachable twice (a config's `cloud` is the first of its `clouds`) is resolved once, at the first path, and stays one object.
  const resolved = new Map<object, unknown>();
  const visit = (value: unknown): unknown => {
    if (value instanceof Secret) return value.pending ? resolve(value.pending, path, problems) ?? value : value;
    if (typeof value === 'object' && value !== null && resolved.has(value)) return resolved.get(value);
    const out = visitOnce(value);
    if (typeof value === 'object' && value !== null) resolved.set(value, out);
    return out;
  };
  const visitOnce = (value: unknown): unknown => {
    if (Array.isArray(value)) {
      return value.map((item: unknown, index) => {
        path.push(index);
        const out = visit(item);
        path.pop();
        return out;
      });
    }
    if (isPlainObject(value)) {
      const out: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) {
        path.push(key);
        out[key] = visit(item);
        path.pop();
      }
      return out;
    }
    return value;
  };
  return { config: visit(config) as T, problems };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function resolve(reference: { file: string } | { env: string }, path: JsonPath, problems: SecretProblem[]): Secret | undefined {
  const fail = (message: string): undefined => void problems.push({ path: [...path], message });
  if ('env' in reference) {
    const value = process.env[reference.env];
    if (value === undefined || value === '') return fail(`expected environment variable ${reference.env} to hold the secret, found it unset or empty`);
    return new Secret(value, `env ${reference.env}`);
  }
  const { file } = reference;
  let value: string;
  try {
    const read = readBounded(file);
    if (typeof read !== 'string') return fail(read.problem);
    value = read.replace(/\r?\n$/, '');
  } catch (err) {
    return fail(`expected a readable secret file, found ${(err as NodeJS.ErrnoException).code ?? 'an error'} reading ${file}`);
  }
  if (value === '') return fail(`expected the secret in ${file}, found an empty file`);
  return new Secret(value, `file ${file}`);
}

/** The file's text, or why it is not read: checked on the open file, so a swap after the check cannot feed it a device. */
function readBounded(file: string): string | { problem: string } {
  // O_NONBLOCK: opening a fifo for reading would otherwise wait for a writer.
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stats = fstatSync(fd);
    // Worded as readFileSync's EISDIR was reported before files were bounded.
    if (stats.isDirectory()) return { problem: `expected a readable secret file, found EISDIR reading ${file}` };
    if (!stats.isFile()) return { problem: `expected the secret in a regular file, found ${kindOf(stats)} at ${file}` };
    if (stats.size > MAX_SECRET_FILE_BYTES) return { problem: `expected a secret file of at most ${bytes(MAX_SECRET_FILE_BYTES)}, found ${stats.size} bytes in ${file}` };
    // Read at most one byte past the limit: a file that grew after fstat is refused, not read whole.
    const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > MAX_SECRET_FILE_BYTES) return { problem: `expected a secret file of at most ${bytes(MAX_SECRET_FILE_BYTES)}, found more in ${file}` };
    return buffer.toString('utf8', 0, length);
  } finally {
    closeSync(fd);
  }
}

function kindOf(stats: Stats): string {
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a fifo';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}
