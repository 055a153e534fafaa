// The official Node runtime for a target, taken from the npm registry (node-linux-<arch>, the
// packages the `node` devDependency installs from), never from nodejs.org. `npm pack` fetches a
// package for any CPU (npm install refuses a foreign one), verifies its integrity and keeps it in
// npm's cache, so later builds run offline; the extracted binary is cached under node_modules/.cache.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export function runtimeFor(runtimePackage: string, version: string, cacheRoot: string): string {
  const dir = join(cacheRoot, `${runtimePackage}-${version}`);
  const node = join(dir, 'node');
  if (existsSync(node)) return node;
  const work = `${dir}.partial`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const packed = execFileSync('npm', ['pack', `${runtimePackage}@${version}`, '--prefer-offline', '--silent', '--pack-destination', work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop();
  if (!packed) throw new Error(`npm pack ${runtimePackage}@${version} produced no tarball`);
  execFileSync('tar', ['-xzf', join(work, packed), '-C', work, '--strip-components=2', 'package/bin/node']);
  renameSync(join(work, 'node'), join(work, 'node.bin'));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  renameSync(join(work, 'node.bin'), node);
  rmSync(work, { recursive: true, force: true });
  return node;
}
