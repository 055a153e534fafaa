// What a downloaded binary must prove before it replaces the agent, cheapest check first: its size,
// its SHA-256 (a truncated or corrupted download ends here), an Ed25519 signature by a key in
// update.publicKeys, an ELF header for this CPU, and that `<file> version` runs and names the
// version the command announced. Each refusal says what was expected and what was found.
import { execFile } from 'node:child_process';
import { createHash, verify as verifySignature } from 'node:crypto';
import { createReadStream, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { ELF_HEADER_BYTES, elfArch } from './elf.ts';
import type { ParsedPublicKey } from './public-keys.ts';

export class UpdateRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpdateRefused';
  }
}

export interface Expected {
  sha256: string;
  signature: string;
  version: string;
  maxBytes: number;
  arch: string;
  keys: readonly ParsedPublicKey[];
}

/** How long `<new> version` may take: a Pi 3 unpacks and starts the runtime in a few seconds. */
const PROBE_TIMEOUT_MS = 60_000;

/** Resolves with the id of the key that signed the file; rejects with UpdateRefused. */
export async function verifyBinary(file: string, expected: Expected): Promise<{ keyId: string }> {
  const size = statSync(file).size;
  if (size > expected.maxBytes) throw new UpdateRefused(`the file is ${size} bytes, more than update.maxBytes (${expected.maxBytes})`);
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  const actual = hash.digest('hex');
  if (actual !== expected.sha256.toLowerCase()) throw new UpdateRefused(`the file's SHA-256 is ${actual}, not the ${expected.sha256.toLowerCase()} the command gave (${size} bytes downloaded: a truncated or wrong file)`);
  const keyId = signer(file, expected.signature, expected.keys);
  if (keyId === undefined) throw new UpdateRefused(`the signature does not verify with ${expected.keys.length === 1 ? 'the key' : `any of the ${expected.keys.length} keys`} in update.publicKeys (${expected.keys.map((k) => k.id).join(', ')}): signed with another key, or not this file`);
  const header = readHeader(file);
  const elf = elfArch(header);
  if ('problem' in elf) throw new UpdateRefused(`the file is not an agent binary: ${elf.problem}`);
  if (elf.arch !== expected.arch) throw new UpdateRefused(`the file is an executable for ${elf.arch}; this gateway is ${expected.arch} (send edge-agent-linux-${expected.arch})`);
  const reported = await probeVersion(file);
  if (reported.version !== expected.version) throw new UpdateRefused(`\`${file} version\` says ${reported.version}, not the ${expected.version} the command gave`);
  return { keyId };
}

/**
 * Ed25519 as RFC 8032 defines it (no prehash) signs the whole message, so the file is read whole:
 * about the binary's size in memory for a moment. That keeps the signature the one that
 * `openssl pkeyutl -sign -rawin` makes over the file, with no format of our own.
 */
function signer(file: string, signature: string, keys: readonly ParsedPublicKey[]): string | undefined {
  const bytes = Buffer.from(signature, 'base64');
  if (bytes.length !== 64) return undefined;
  const data = readFileSync(file);
  return keys.find((k) => verifySignature(null, data, k.key, bytes))?.id;
}

function readHeader(file: string): Buffer {
  const header = Buffer.alloc(ELF_HEADER_BYTES);
  const fd = openSync(file, 'r');
  try {
    readSync(fd, header, 0, ELF_HEADER_BYTES, 0);
  } finally {
    closeSync(fd);
  }
  return header;
}

/** Runs `<file> version` (no shell) and reads "edge-agent <version> (node <v>, linux-<arch>)". */
export function probeVersion(file: string): Promise<{ version: string; arch: string }> {
  return new Promise((resolve, reject) => {
    execFile(file, ['version'], { timeout: PROBE_TIMEOUT_MS, maxBuffer: 64 * 1024, env: probeEnvironment() }, (error, stdout, stderr) => {
      const match = /^edge-agent (\S+) \(node [^,]+, linux-(\w+)\)/.exec(stdout);
      if (match) return resolve({ version: match[1]!, arch: match[2]! });
      const why = error ? (error.killed ? `did not answer within ${PROBE_TIMEOUT_MS / 1000} s` : `failed: ${String(stderr).trim().split('\n')[0] || error.message}`) : `printed ${JSON.stringify(stdout.slice(0, 120))}`;
      reject(new UpdateRefused(`\`${file} version\` ${why}: the new binary does not run on this gateway`));
    });
  });
}

/** The new binary unpacks its native addons to the cache dir the agent uses; nothing else is passed on. */
function probeEnvironment(): NodeJS.ProcessEnv {
  const keep = ['PATH', 'HOME', 'CACHE_DIRECTORY', 'EDGE_AGENT_CACHE_DIR', 'MALLOC_ARENA_MAX', 'LANG'];
  return Object.fromEntries(keep.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
}
