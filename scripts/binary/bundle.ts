// One ES module holding the CLI and every dependency, for the binary's SEA asset. ESM, not CJS:
// the CLI uses top-level await, which esbuild cannot turn into CommonJS, and Node 24's SEA main
// script must be CommonJS, so a tiny CommonJS launcher (launcher.ts) imports this module.
import { build } from 'esbuild';
import { embeddedAddonsPlugin } from './addons-plugin.ts';

/** Shown in stack traces instead of the multi-megabyte data: URL the module is imported from. */
export const BUNDLE_NAME = 'edge-agent.mjs';

// Bundled CommonJS packages call require() for Node built-ins and read __dirname/__filename;
// in an ES module those are not defined, so the bundle defines them. Only built-ins are ever
// required at run time: everything else is in the bundle, native addons come from the assets.
const BANNER = [
  "import { createRequire as __edgeAgentCreateRequire } from 'node:module';",
  'const require = __edgeAgentCreateRequire(process.execPath);',
  'const __filename = process.execPath;',
  "const __dirname = process.execPath.replace(/[\\\\/][^\\\\/]*$/, '');",
  "const __edgeAgentImportMetaUrl = 'file://' + process.execPath;",
].join('\n');

export async function bundleCli(entry: string, outfile: string, root: string): Promise<void> {
  const result = await build({
    // Paths in the bundle are relative to the checkout, so any checkout builds the same bytes.
    absWorkingDir: root,
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node24',
    // Keep identifiers: stack traces in a field log must still name functions.
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'eof',
    banner: { js: BANNER },
    footer: { js: `//# sourceURL=${BUNDLE_NAME}` },
    // jsonc-parser's `main` is a UMD build whose require('./impl/format') esbuild cannot follow.
    alias: { 'jsonc-parser': 'jsonc-parser/lib/esm/main.js' },
    // ws tries these optional native speed-ups and falls back to JS when require() fails.
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [embeddedAddonsPlugin()],
    logLevel: 'warning',
    // The bundle runs from a data: URL; packages that locate files beside themselves with
    // import.meta.url (node-cron's background-process daemon.js) get the binary's path instead.
    // node-cron's background mode cannot work in a bundle: schedule inline jobs only.
    define: { 'import.meta.url': '__edgeAgentImportMetaUrl' },
  });
  if (result.errors.length > 0) throw new Error(`bundling ${entry} failed`);
}
