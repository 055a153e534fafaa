// Builds the Debian packages dist/edge-agent_<version>_amd64.deb and _arm64.deb from the single
// binaries (scripts/build-binary.ts), with dpkg's own dpkg-deb: no debian/ source tree, debhelper
// or fakeroot (--root-owner-group makes every file root's). What goes in: scripts/deb/stage.ts.
//
// Usage: node scripts/build-deb.ts [--arch amd64|arm64]... [--binaries DIR] [--out dist]
//        [--version 1.4.0] [--maintainer "Name <email>"]
// Without --binaries, binaries missing from dist/ are built first. --version defaults to
// src/version.ts; the binary for this machine's CPU is run to check it reports the same version.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { debianVersion, type DebArch } from './deb/control.ts';
import { stagePackage } from './deb/stage.ts';
import { AGENT_VERSION } from '../src/version.ts';

const ROOT = resolve(import.meta.dirname, '..');
const TARGET_OF: Record<DebArch, string> = { amd64: 'linux-x64', arm64: 'linux-arm64' };
const HOST_ARCH: Partial<Record<string, DebArch>> = { x64: 'amd64', arm64: 'arm64' };
// Who builds: --maintainer, else DEBFULLNAME and DEBEMAIL as dch(1) reads them, else this placeholder.
const DEFAULT_MAINTAINER = 'edge-agent maintainers <edge-agent@example.com>';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', multiple: true },
    binaries: { type: 'string' },
    out: { type: 'string', default: 'dist' },
    version: { type: 'string' },
    maintainer: { type: 'string' },
  },
});

const arches = (values.arch ?? Object.keys(TARGET_OF)).map(checkArch);
const outDir = resolve(ROOT, values.out);
const binDir = resolve(ROOT, values.binaries ?? 'dist');
const agentVersion = values.version ?? AGENT_VERSION;
const version = tryOr(() => debianVersion(agentVersion));
const maintainer = values.maintainer ?? (process.env.DEBFULLNAME && process.env.DEBEMAIL ? `${process.env.DEBFULLNAME} <${process.env.DEBEMAIL}>` : DEFAULT_MAINTAINER);
// SOURCE_DATE_EPOCH (reproducible-builds.org) pins the changelog date; dpkg-deb honours it too.
const date = process.env.SOURCE_DATE_EPOCH ? new Date(Number(process.env.SOURCE_DATE_EPOCH) * 1000) : new Date();

if (!hasCommand('dpkg-deb')) fail('dpkg-deb not found: build the packages on Debian or Ubuntu (apt-get install dpkg)');
const binaryFor = (arch: DebArch) => join(binDir, `edge-agent-${TARGET_OF[arch]}`);
const missing = arches.filter((arch) => !existsSync(binaryFor(arch)));
if (missing.length > 0) {
  if (values.binaries) {
    const present = arches.filter((arch) => !missing.includes(arch));
    fail(`no ${missing.map((arch) => binaryFor(arch)).join(' or ')}: build with npm run build:binary -- --out ${values.binaries}${present.length > 0 ? `, or package only ${present.map((arch) => `--arch ${arch}`).join(' ')}` : ''}`);
  }
  console.log(`building the missing binaries first: ${missing.map((arch) => TARGET_OF[arch]).join(', ')}`);
  const build = [join(ROOT, 'scripts/build-binary.ts'), '--out', binDir, ...missing.flatMap((arch) => ['--target', TARGET_OF[arch]])];
  execFileSync(process.execPath, [...build, ...(values.version ? ['--version', values.version] : [])], { cwd: ROOT, stdio: 'inherit' });
}
checkBinaryVersion();

mkdirSync(outDir, { recursive: true });
// dpkg-deb's xz needs about a minute of CPU per 130 MB binary and spreads it over several threads
// only when it judges memory sufficient: the packages are compressed side by side.
const results = await Promise.allSettled(arches.map(buildPackage));
const failed = results.filter((result) => result.status === 'rejected');
if (failed.length > 0) fail(failed.map((result) => String((result.reason as Error).message)).join('\n'));

async function buildPackage(arch: DebArch): Promise<void> {
  const deb = join(outDir, `edge-agent_${version}_${arch}.deb`);
  // Beside the output, not in /tmp: the tree holds a 130 MB binary, and /tmp may be a small tmpfs.
  const stage = mkdtempSync(join(outDir, `.deb-${arch}-`));
  try {
    stagePackage({ root: ROOT, binary: binaryFor(arch), arch, version, maintainer, date, dir: stage });
    await runShowingErrors('dpkg-deb', ['--build', '--root-owner-group', stage, deb]);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  console.log(`built ${relative(process.cwd(), deb) || deb}`);
}

function runShowingErrors(command: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} exited with ${code}`))));
  });
}

/**
 * A binary left in dist/ by an older build would be packaged under the wrong version: refuse it.
 * An explicit --version may differ (a test repackaging one binary), with a warning.
 */
function checkBinaryVersion(): void {
  const hostArch = HOST_ARCH[process.arch];
  if (!hostArch || !arches.includes(hostArch)) {
    console.warn(`build-deb: not checking the binaries' version: none of them runs on this ${process.arch} machine`);
    return;
  }
  const binary = binaryFor(hostArch);
  let output: string;
  try {
    output = execFileSync(binary, ['version'], { encoding: 'utf8' });
  } catch (error) {
    fail(`${binary} version failed (${(error as Error).message.split('\n')[0]}); rebuild it with npm run build:binary`);
  }
  const reported = /^edge-agent (\S+)/.exec(output)?.[1];
  if (reported === agentVersion) return;
  const says = `${relative(ROOT, binary)} reports version ${reported ?? `"${output.trim()}"`}`;
  if (values.version) console.warn(`build-deb: warning: ${says}; packaging it as ${agentVersion} as --version asks`);
  else fail(`${says}, but src/version.ts says ${agentVersion}: the binary is stale; rebuild with npm run build:binary, or pass --version`);
}

function checkArch(arch: string): DebArch {
  if (Object.hasOwn(TARGET_OF, arch)) return arch as DebArch;
  fail(`unknown --arch ${arch}; known: ${Object.keys(TARGET_OF).join(', ')}`);
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function tryOr<T>(make: () => T): T {
  try {
    return make();
  } catch (error) {
    fail((error as Error).message);
  }
}

function fail(message: string): never {
  console.error(`build-deb: ${message}`);
  process.exit(1);
}
