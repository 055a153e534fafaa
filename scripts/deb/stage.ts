// Lays out one package's tree (the files as they land on the gateway, plus DEBIAN/) for dpkg-deb.
// Modes are set explicitly, whatever the umask; owners come from dpkg-deb --root-owner-group.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { changelogEntry, changelogName, controlFile, type DebArch } from './control.ts';
import { installShFiles, PACKAGED_BINARY } from './install-sh-files.ts';
import { manPage } from './man-page.ts';

const HERE = import.meta.dirname;
const DOC = 'usr/share/doc/edge-agent';
// /usr/lib, not /lib: Debian 12 (merged /usr) finds units in both and its lintian accepts this one,
// and Debian 13 moves every package's files out of /lib (the merged-/usr transition, DEP 17).
const UNIT_PATH = 'usr/lib/systemd/system/edge-agent.service';
const SYSUSERS_PATH = 'usr/lib/sysusers.d/edge-agent.conf';
// The one conffile: dpkg keeps a technician's edits to it across upgrades.
const CONFIG_PATH = 'etc/edge-agent/agent.config.json';
const MAINTAINER_SCRIPTS = ['postinst', 'prerm', 'postrm'];

export interface StageOptions {
  /** The repository: install.sh and the unit are read from it. */
  root: string;
  binary: string;
  arch: DebArch;
  /** Already a Debian version (debianVersion()). */
  version: string;
  maintainer: string;
  date: Date;
  /** An empty directory to fill. */
  dir: string;
}

export function stagePackage(options: StageOptions): void {
  const { dir } = options;
  // The tree's top is "./" in the package: mkdtemp's 0700 would be what dpkg sees for /.
  chmodSync(dir, 0o755);
  const files = installShFiles(options.root);
  const put = (path: string, content: string | Buffer, mode = 0o644) => {
    mkdirs(dir, dirname(path));
    writeFileSync(join(dir, path), content);
    chmodSync(join(dir, path), mode);
  };

  mkdirs(dir, 'usr/bin');
  copyFileSync(options.binary, join(dir, PACKAGED_BINARY));
  chmodSync(join(dir, PACKAGED_BINARY), 0o755);
  put(UNIT_PATH, files.unit);
  put(SYSUSERS_PATH, files.sysusers);
  put(CONFIG_PATH, files.starterConfig);
  put(`${DOC}/copyright`, readFileSync(join(HERE, 'copyright')));
  put(`${DOC}/${changelogName(options.version)}`, gzip(changelogEntry(options.version, options.maintainer, options.date)));
  put('usr/share/man/man1/edge-agent.1.gz', gzip(manPage(options.root, options.version, options.date)));
  put('usr/share/lintian/overrides/edge-agent', readFileSync(join(HERE, 'lintian-overrides')));

  // Counted before DEBIAN/ exists: Installed-Size is what lands on the gateway.
  const installedSize = installedKiB(dir);
  put('DEBIAN/control', controlFile({ version: options.version, arch: options.arch, maintainer: options.maintainer, installedSize }));
  put('DEBIAN/conffiles', `/${CONFIG_PATH}\n`);
  // dpkg tracks conffiles' sums itself; md5sums (for debsums, dpkg --verify) lists the other files.
  put('DEBIAN/md5sums', md5sums(dir).filter(([path]) => path !== CONFIG_PATH).map(([path, sum]) => `${sum}  ${path}\n`).join(''));
  for (const script of MAINTAINER_SCRIPTS) put(`DEBIAN/${script}`, readFileSync(join(HERE, script)), 0o755);
}

/** gzip -9n: best compression, and no name or time stamp in the header (reproducible), as lintian wants. */
function gzip(text: string): Buffer {
  return execFileSync('gzip', ['-9n'], { input: text });
}

/** mkdir -p with mode 0755 for each level, so the package's directories do not depend on the umask. */
function mkdirs(base: string, path: string): void {
  let current = base;
  for (const part of path.split('/').filter(Boolean)) {
    current = join(current, part);
    mkdirSync(current, { recursive: true });
    chmodSync(current, 0o755);
  }
}

/** As dpkg-gencontrol counts: each regular file or link rounded up to a KiB, each other entry 1 KiB. */
function installedKiB(dir: string): number {
  let total = 0;
  for (const path of walk(dir)) {
    const stats = lstatSync(join(dir, path));
    total += stats.isFile() || stats.isSymbolicLink() ? Math.ceil(stats.size / 1024) : 1;
  }
  return total;
}

function md5sums(dir: string): [string, string][] {
  return walk(dir)
    .filter((path) => !path.startsWith('DEBIAN/') && lstatSync(join(dir, path)).isFile())
    .map((path) => [path, createHash('md5').update(readFileSync(join(dir, path))).digest('hex')]);
}

/** Every entry below `dir` (not `dir` itself), as sorted relative paths. */
function walk(dir: string, prefix = ''): string[] {
  const paths: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    paths.push(path);
    if (entry.isDirectory()) paths.push(...walk(dir, path));
  }
  return paths;
}
