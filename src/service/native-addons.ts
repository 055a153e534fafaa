// Native addons inside the single-file binary. Node can only dlopen() a file, so each addon travels
// as a SEA asset, is written once to a cache directory under a name carrying its SHA-256, and is
// hashed again right before process.dlopen(): a truncated write (power cut on an SD card) or a file
// swapped by someone else is rewritten, never loaded. Outside the binary (`node src/cli/main.ts`)
// this module is unused: better-sqlite3 and serialport find their prebuilds in node_modules.
//
// Under systemd the unit sets CacheDirectory=edge-agent, so systemd creates /var/cache/edge-agent
// owned by the service user and passes it as $CACHE_DIRECTORY. That directory must not be on a
// noexec mount, or dlopen() fails with EPERM/"failed to map segment".
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentError, ExitCode } from '../errors.ts';

/** Written by scripts/build-binary.ts as the SEA asset `addons.json`. */
export interface AddonManifest {
  [name: string]: { asset: string; sha256: string };
}

export const MANIFEST_ASSET = 'addons.json';

export class NativeAddonError extends AgentError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, ExitCode.software, options);
  }
}

/** The subset of node:sea this module uses (injectable for tests). */
export interface AssetSource {
  getAsset(key: string): ArrayBuffer;
}

export interface AddonLoaderOptions {
  assets: AssetSource;
  env?: NodeJS.ProcessEnv;
  /** process.dlopen by default. */
  dlopen?: (module: { exports: unknown }, filename: string) => void;
}

export function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Where addons are unpacked: $EDGE_AGENT_CACHE_DIR, systemd's $CACHE_DIRECTORY (first entry),
 * $XDG_CACHE_HOME/edge-agent, ~/.cache/edge-agent, then a per-user directory under the temp dir.
 */
export function addonCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.EDGE_AGENT_CACHE_DIR) return env.EDGE_AGENT_CACHE_DIR;
  const systemd = env.CACHE_DIRECTORY?.split(':')[0];
  if (systemd) return systemd;
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'edge-agent');
  let home = env.HOME;
  try {
    home ??= homedir();
  } catch {
    home = undefined;
  }
  if (home && home !== '/') return join(home, '.cache', 'edge-agent');
  return join(tmpdir(), `edge-agent-${process.getuid?.() ?? 'user'}`);
}

/** Loads addons named in the manifest; each is unpacked and loaded at most once per process. */
export class EmbeddedAddons {
  readonly #assets: AssetSource;
  readonly #env: NodeJS.ProcessEnv;
  readonly #dlopen: (module: { exports: unknown }, filename: string) => void;
  readonly #loaded = new Map<string, unknown>();
  #manifest: AddonManifest | undefined;

  constructor(options: AddonLoaderOptions) {
    this.#assets = options.assets;
    this.#env = options.env ?? process.env;
    this.#dlopen = options.dlopen ?? ((module, filename) => process.dlopen(module, filename));
  }

  load(name: string): unknown {
    const cached = this.#loaded.get(name);
    if (cached !== undefined) return cached;
    const entry = this.#readManifest()[name];
    if (!entry) throw new NativeAddonError(`this binary has no native addon "${name}" (built without it?); rebuild with scripts/build-binary.ts`);
    // The asset is read (and its pages of the binary mapped into RSS for good) only when the cache
    // has no good copy: the manifest's hash, checked against the cached file, is enough otherwise.
    const file = this.#unpack(name, entry.sha256, () => {
      const data = new Uint8Array(this.#assets.getAsset(entry.asset));
      if (sha256(data) !== entry.sha256) throw new NativeAddonError(`the binary is damaged: embedded addon ${entry.asset} does not match its checksum; reinstall edge-agent`);
      return data;
    });
    const module = { exports: {} as unknown };
    try {
      this.#dlopen(module, file);
    } catch (error) {
      throw new NativeAddonError(
        `cannot load native addon ${file}: ${(error as Error).message}. The cache directory must allow executing files (not a noexec mount); set EDGE_AGENT_CACHE_DIR to another directory if needed`,
        { cause: error },
      );
    }
    this.#loaded.set(name, module.exports);
    return module.exports;
  }

  #readManifest(): AddonManifest {
    this.#manifest ??= JSON.parse(Buffer.from(this.#assets.getAsset(MANIFEST_ASSET)).toString('utf8')) as AddonManifest;
    return this.#manifest;
  }

  #unpack(name: string, hash: string, asset: () => Uint8Array): string {
    const dir = addonCacheDir(this.#env);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (error) {
      throw new NativeAddonError(`cannot create the addon cache directory ${dir}: ${(error as Error).message}; set EDGE_AGENT_CACHE_DIR to a writable directory`, { cause: error });
    }
    assertPrivateDir(dir);
    const file = join(dir, `${name}-${hash.slice(0, 16)}.node`);
    // Hashing the cached library (2 MB for SQLite) on every start costs ~15 ms of start to READY:
    // once it has been checked, its size, inode and change time stand for it until any of them moves.
    const stamp = stampOf(file);
    if (stamp !== undefined && stamp === readStamp(file, hash)) return file;
    if (fileHash(file) === hash) {
      writeStamp(file, hash);
      return file;
    }
    const data = asset();
    // Write beside, fsync, rename: a reader never sees a half-written library.
    const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      const fd = openSync(temporary, 'wx', 0o500);
      try {
        writeSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temporary, file);
    } catch (error) {
      rmSync(temporary, { force: true });
      throw new NativeAddonError(`cannot write ${file}: ${(error as Error).message}; set EDGE_AGENT_CACHE_DIR to a writable directory`, { cause: error });
    }
    if (fileHash(file) !== hash) throw new NativeAddonError(`${file} changed while being written; is another process writing to ${dir}?`);
    writeStamp(file, hash);
    return file;
  }
}

/** What a checked file looked like: any write, replacement or chmod changes its ctime or inode. */
function stampOf(file: string): string | undefined {
  try {
    const stats = statSync(file, { bigint: true });
    return `${stats.ino}:${stats.size}:${stats.ctimeNs}`;
  } catch {
    return undefined;
  }
}

function readStamp(file: string, hash: string): string | undefined {
  try {
    const [stamp, stampedHash] = readFileSync(`${file}.checked`, 'utf8').split(' ');
    return stampedHash === hash ? stamp : undefined;
  } catch {
    return undefined;
  }
}

function writeStamp(file: string, hash: string): void {
  const stamp = stampOf(file);
  if (stamp === undefined) return;
  try {
    writeFileSync(`${file}.checked`, `${stamp} ${hash}`, { mode: 0o600 });
  } catch {
    // Without the stamp the next start hashes the file again: slower, never wrong.
  }
}

function fileHash(file: string): string | undefined {
  try {
    return sha256(readFileSync(file));
  } catch {
    return undefined;
  }
}

/** Another user able to write here could swap the library between our hash check and dlopen(). */
function assertPrivateDir(dir: string): void {
  const stats = lstatSync(dir);
  const uid = process.getuid?.();
  if (!stats.isDirectory()) throw new NativeAddonError(`addon cache ${dir} is not a directory`);
  if (uid !== undefined && stats.uid !== uid && stats.uid !== 0) throw new NativeAddonError(`addon cache ${dir} belongs to uid ${stats.uid}, not to this user (uid ${uid}); remove it or set EDGE_AGENT_CACHE_DIR`);
  if ((stats.mode & 0o022) !== 0) throw new NativeAddonError(`addon cache ${dir} is writable by other users (mode ${(stats.mode & 0o777).toString(8)}); run chmod go-w ${dir}`);
}

let shared: EmbeddedAddons | undefined;

/** The binary's loader, over node:sea's assets. Called by the modules the build substitutes for `bindings`/`node-gyp-build`. */
export function loadEmbeddedAddon(name: string): unknown {
  if (!shared) {
    // Looked up lazily so importing this file outside the binary costs nothing.
    const sea = process.getBuiltinModule('node:sea');
    if (!sea.isSea()) throw new NativeAddonError(`native addon "${name}" requested from the embedded assets, but this is not the single-file binary`);
    shared = new EmbeddedAddons({ assets: sea });
  }
  return shared.load(name);
}
