// Builds the single-file binaries dist/edge-agent-linux-x64 and dist/edge-agent-linux-arm64 with
// Node's own single executable application (SEA) support: esbuild bundle -> SEA blob made by
// `node --experimental-sea-config` -> blob injected into the official runtime with postject.
// Offline once npm's cache holds the runtimes (they come from the npm registry, not nodejs.org).
//
// Why not pkg: vercel/pkg is archived and stops at Node 18. @yao-pkg/pkg's CLI downloads its base
// runtimes from nodejs.org/GitHub at build time (fails offline), and its classic mode patches
// child_process.exec, which broke systeminformation inside the binary ("The callback argument must
// be of type function"). Its SEA mode runs the same three steps as this script, so it would add a
// dependency without adding anything; the esbuild bundle and the addon loader are needed either way.
//
// Usage: node scripts/build-binary.ts [--target linux-x64|linux-arm64]... [--entry src/cli/main.ts] [--out dist]
//        [--version 1.4.0-rc.1] [--prelude file.js (tests only: run before the agent)]
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { BUNDLE_NAME, bundleCli } from './binary/bundle.ts';
import { runtimeFor } from './binary/runtime.ts';
import { BINARY_V8_FLAGS, TARGETS, type BinaryTarget } from './binary/targets.ts';
import { MANIFEST_ASSET, type AddonManifest } from '../src/service/native-addons.ts';

const ROOT = resolve(import.meta.dirname, '..');
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';
const QEMU_ARM64 = '/usr/bin/qemu-aarch64-static';
const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';
// postject is CommonJS and untyped; its API saves the CLI's extra process.
const { inject } = createRequire(import.meta.url)('postject') as { inject: (file: string, name: string, data: Buffer, options: { sentinelFuse: string }) => Promise<void> };

const { values } = parseArgs({
  options: {
    target: { type: 'string', multiple: true },
    entry: { type: 'string', default: 'src/cli/main.ts' },
    out: { type: 'string', default: 'dist' },
    version: { type: 'string' },
    prelude: { type: 'string' },
  },
});

const outDir = resolve(ROOT, values.out);
const work = join(outDir, '.build');
const runtimeCache = join(ROOT, 'node_modules/.cache/edge-agent-runtimes');
const targets = values.target ? values.target.map(findTarget) : TARGETS;

// The blob is V8 data: made by one Node version and run by another, the binary crashes at start.
const version = process.version.slice(1);
const pinned = (JSON.parse(readFileSync(join(ROOT, 'node_modules/node/package.json'), 'utf8')) as { version: string }).version;
if (version !== pinned) fail(`run this with the project's Node ${pinned} (npx node scripts/build-binary.ts or npm run build:binary), not ${process.version}`);

const started = Date.now();
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
const bundle = join(work, BUNDLE_NAME);
await bundleCli(resolve(ROOT, values.entry), bundle, ROOT, { ...(values.version ? { version: values.version } : {}), ...(values.prelude ? { prelude: readFileSync(resolve(values.prelude), 'utf8') } : {}) });

const sums: string[] = [];
for (const target of targets) {
  const output = join(outDir, `edge-agent-${target.name}`);
  await buildOne(target, output);
  sums.push(`${sha256File(output)}  ${relative(outDir, output)}`);
  console.log(`built ${relative(ROOT, output)}`);
}
writeFileSync(join(outDir, 'SHA256SUMS'), `${sums.join('\n')}\n`);
rmSync(work, { recursive: true, force: true });
console.log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);

async function buildOne(target: BinaryTarget, output: string): Promise<void> {
  const dir = join(work, target.name);
  mkdirSync(dir, { recursive: true });
  // Everything the blob holds is copied here and named by relative paths, run from this directory:
  // the blob records the paths it was given, and absolute ones would differ between checkouts.
  mkdirSync(join(dir, 'addons'));
  copyFileSync(bundle, join(dir, BUNDLE_NAME));
  const manifest: AddonManifest = {};
  const assets: Record<string, string> = {};
  for (const [name, file] of Object.entries(target.addons)) {
    const asset = `addons/${name}.node`;
    copyFileSync(file, join(dir, asset));
    manifest[name] = { asset, sha256: sha256File(file) };
    assets[asset] = asset;
  }
  writeFileSync(join(dir, MANIFEST_ASSET), JSON.stringify(manifest, null, 2));
  assets[MANIFEST_ASSET] = MANIFEST_ASSET;

  // V8's code cache of the bundle is made by the target's own runtime (under qemu-user for the other
  // CPU), started with the binary's flags, so the binary compiles nothing at start: ~40-70 ms less to
  // READY on this machine, more on a Pi (bench/agent-start.ts).
  const generator = codeCacheGenerator(target);
  const config = {
    main: BUNDLE_NAME,
    output: 'sea.blob',
    disableExperimentalSEAWarning: true,
    useSnapshot: false,
    useCodeCache: generator !== undefined,
    execArgv: [...BINARY_V8_FLAGS],
    assets,
  };
  writeFileSync(join(dir, 'sea-config.json'), JSON.stringify(config, null, 2));
  const [command, ...prefix] = generator ?? [process.execPath];
  execFileSync(command!, [...prefix, ...BINARY_V8_FLAGS, '--experimental-sea-config', 'sea-config.json'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'] });
  const blob = join(dir, 'sea.blob');

  const partial = `${output}.partial`;
  copyFileSync(runtimeFor(target.runtimePackage, version, runtimeCache), partial);
  chmodSync(partial, 0o755);
  // Before the blob goes in: strip rewrites the file and would drop the note postject adds.
  try {
    execFileSync(target.strip, ['--strip-all', partial], { stdio: ['ignore', 'ignore', 'inherit'] });
  } catch (error) {
    fail(`${target.strip} failed (${(error as Error).message.split('\n')[0]}): install binutils${target.arch === 'arm64' ? ' and binutils-aarch64-linux-gnu' : ''} (apt-get install binutils binutils-aarch64-linux-gnu)`);
  }
  await inject(partial, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
  renameSync(partial, output);
}

/** How to run the target's own runtime here, or undefined (no code cache) when this machine cannot. */
function codeCacheGenerator(target: BinaryTarget): string[] | undefined {
  const runtime = runtimeFor(target.runtimePackage, version, runtimeCache);
  if (target.arch === process.arch) return [runtime];
  if (target.arch === 'arm64' && existsSync(QEMU_ARM64) && existsSync(ARM64_SYSROOT)) return [QEMU_ARM64, '-L', ARM64_SYSROOT, runtime];
  console.warn(`build-binary: no way to run the ${target.arch} runtime here (install qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross): edge-agent-${target.name} is built without a code cache and starts slower`);
  return undefined;
}

function findTarget(name: string): BinaryTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) fail(`unknown target ${name}; known: ${TARGETS.map((t) => t.name).join(', ')}`);
  return target;
}

function sha256File(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

function fail(message: string): never {
  console.error(`build-binary: ${message}`);
  process.exit(1);
}
