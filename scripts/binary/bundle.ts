// One CommonJS script holding the CLI and every dependency: the binary's SEA main script (Node 24
// runs only CommonJS there). It used to be an ES module imported by a small launcher from a
// base64 data: URL, which kept three copies of a 2 MB source alive and cost ~30 MB of RSS at start;
// the CLI therefore has no top-level await (esbuild cannot turn that into CommonJS).
import { readFile } from 'node:fs/promises';
import { build, type Plugin } from 'esbuild';
import { embeddedAddonsPlugin } from './addons-plugin.ts';

export const BUNDLE_NAME = 'edge-agent.cjs';

// In the SEA main script require() loads only Node built-ins, which is all the bundle requires at
// run time (native addons come from the assets), and __filename is the binary itself.
const BANNER = "var __edgeAgentImportMetaUrl = require('node:url').pathToFileURL(__filename).href;";

export interface BundleOptions {
  /** Builds report this version instead of src/version.ts's (a release candidate; the update tests' "version B"). */
  version?: string;
  /** JavaScript run before everything else. For tests only: the update tests build a "B" that fails at start. */
  prelude?: string;
}

export async function bundleCli(entry: string, outfile: string, root: string, options: BundleOptions = {}): Promise<void> {
  const result = await build({
    // Paths in the bundle are relative to the checkout, so any checkout builds the same bytes.
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node24',
    // Keep identifiers: stack traces in a field log must still name functions.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    banner: { js: options.prelude ? `${BANNER}\n${options.prelude}` : BANNER },
    // jsonc-parser's `main` is a UMD build whose require('./impl/format') esbuild cannot follow.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    // ws tries these optional native speed-ups and falls back to JS when require() fails.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [embeddedAddonsPlugin(), englishOnlyZodPlugin(), ...(options.version ? [versionPlugin(options.version)] : [])],
    logLevel: 'warning',
    // CommonJS has no import.meta; packages that locate files beside themselves with
    // import.meta.url (node-cron's background-process daemon.js) get the binary's path instead.
    // node-cron's background mode cannot work in a bundle: schedule inline jobs only.
    define: { 'import.meta.url': '__edgeAgentImportMetaUrl' },
  });
  if (result.errors.length > 0) throw new Error(`bundling ${entry} failed`);
}

/** Replaces AGENT_VERSION's value in src/version.ts, so the binary says the version it was built as. */
function versionPlugin(version: string): Plugin {
  if (!/^[0-9A-Za-z.+-]{1,64}$/.test(version)) throw new Error(`--version ${version}: expected a version such as 1.4.0`);
  return {
    name: 'agent-version',
    setup(build) {
      build.onLoad({ filter: /[\\/]src[\\/]version\.ts$/ }, async (args) => {
        const source = await readFile(args.path, 'utf8');
        if (!/AGENT_VERSION = '[^']*'/.test(source)) throw new Error(`no AGENT_VERSION in ${args.path}`);
        const replaced = source.replace(/AGENT_VERSION = '[^']*'/, `AGENT_VERSION = '${version}'`);
        return { contents: replaced, loader: 'ts' };
      });
    },
  };
}

/**
 * `import { z } from 'zod'` puts every message locale (40-odd modules) into the `z` namespace, so the
 * bundle evaluates them all at start (~16 ms on this machine) for z.locales, which the agent never
 * reads: English is zod's default and registers itself (classic/schemas.ts imports locales/en).
 */
function englishOnlyZodPlugin(): Plugin {
  return {
    name: 'zod-english-only',
    setup(build) {
      // The CommonJS build is what a CommonJS bundle resolves (and core/index re-exports the locales too).
      build.onResolve({ filter: /^\.\.\/locales\/index\.c?js$/ }, (args) => (/[\\/]zod[\\/]v4[\\/](?:classic|core|mini)[\\/]/.test(args.importer) ? { path: 'zod-locales', namespace: 'zod-english-only' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'zod-english-only' }, () => ({ contents: 'export {};', loader: 'js' }));
    },
  };
}
