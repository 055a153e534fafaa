// A throwaway root for dpkg, to install, upgrade, remove and purge a package without touching this
// machine. dpkg(1): --root=DIR installs under DIR with its database in DIR/var/lib/dpkg, and
// --force-script-chrootless runs the maintainer scripts here rather than chrooted into DIR (which has
// no shell), with DPKG_ROOT=DIR set for them to honour. --force-depends: the root has no libc6 package.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DpkgResult {
  code: number | null;
  output: string;
}

export interface DpkgRoot {
  dir: string;
  /** Runs dpkg in the root; stdin is closed, so a conffile question fails at once instead of hanging. */
  dpkg(...args: string[]): Promise<DpkgResult>;
  /** Like dpkg(), but rejects with dpkg's output when it fails. */
  dpkgOk(...args: string[]): Promise<string>;
}

export function makeDpkgRoot(parent: string): DpkgRoot {
  const dir = mkdtempSync(join(parent, 'root-'));
  const admin = join(dir, 'var/lib/dpkg');
  for (const sub of ['info', 'updates', 'triggers']) mkdirSync(join(admin, sub), { recursive: true });
  mkdirSync(join(dir, 'var/log'), { recursive: true });
  writeFileSync(join(admin, 'status'), '');

  const dpkg = (...args: string[]) =>
    new Promise<DpkgResult>((resolve, reject) => {
      const child = spawn('dpkg', [`--root=${dir}`, `--log=${join(dir, 'var/log/dpkg.log')}`, '--force-script-chrootless', '--force-depends', ...args], {
        stdio: ['ignore', 'pipe', 'pipe'],
        // dpkg looks for ldconfig and start-stop-daemon on PATH before it installs anything.
        env: { ...process.env, PATH: `${process.env.PATH ?? ''}:/usr/sbin:/sbin`, DEBIAN_FRONTEND: 'noninteractive' },
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, output }));
    });
  const dpkgOk = async (...args: string[]) => {
    const result = await dpkg(...args);
    if (result.code !== 0) throw new Error(`dpkg ${args.join(' ')} exited with ${result.code}:\n${result.output}`);
    return result.output;
  };
  return { dir, dpkg, dpkgOk };
}
