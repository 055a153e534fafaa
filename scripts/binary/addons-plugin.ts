// esbuild plugin: the packages that find their native addon on disk (better-sqlite3 through
// lib/binding.js, @serialport/bindings-cpp through node-gyp-build) get it from the binary's
// embedded assets instead, via src/service/native-addons.ts.
import { resolve } from 'node:path';
import type { Plugin } from 'esbuild';

const LOADER = resolve(import.meta.dirname, '../../src/service/native-addons.ts');

/** Packages that load their addon with node-gyp-build, and the addon name each gets. */
export const NODE_GYP_BUILD_PACKAGES: Record<string, string> = {
  '@serialport/bindings-cpp': 'serialport',
};

export function embeddedAddonsPlugin(): Plugin {
  return {
    name: 'edge-agent-embedded-addons',
    setup(build) {
      build.onResolve({ filter: /^\.\/binding(\.js)?$/ }, (args) =>
        /[\\/]better-sqlite3[\\/]lib$/.test(args.resolveDir) ? { path: 'better-sqlite3-binding', namespace: 'embedded-addon' } : undefined,
      );
      // node-gyp-build(__dirname) cannot tell packages apart inside a bundle (one __dirname for all),
      // so the addon is chosen here, at build time, from the importing file's package.
      build.onResolve({ filter: /^(node-gyp-build|bindings)$/ }, (args) => {
        const importer = args.importer.replaceAll('\\', '/');
        const hit = Object.entries(NODE_GYP_BUILD_PACKAGES).find(([name]) => importer.includes(`/node_modules/${name}/`));
        if (!hit) return { errors: [{ text: `${args.importer} loads a native addon through ${args.path}: add its package to NODE_GYP_BUILD_PACKAGES and its prebuilds to scripts/binary/targets.ts` }] };
        return { path: hit[1], namespace: 'embedded-addon-gyp' };
      });

      build.onLoad({ filter: /.*/, namespace: 'embedded-addon-gyp' }, (args) => ({
        loader: 'js',
        resolveDir: import.meta.dirname,
        contents: `const { loadEmbeddedAddon } = require(${JSON.stringify(LOADER)});
module.exports = () => loadEmbeddedAddon(${JSON.stringify(args.path)});`,
      }));

      build.onLoad({ filter: /.*/, namespace: 'embedded-addon' }, () => ({
        loader: 'js',
        resolveDir: import.meta.dirname,
        // Same contract as better-sqlite3's lib/binding.js: an object passed as `nativeBinding` wins.
        contents: `const { loadEmbeddedAddon } = require(${JSON.stringify(LOADER)});
exports.getBinding = (nativeBinding) => (typeof nativeBinding === 'object' && nativeBinding !== null ? nativeBinding : loadEmbeddedAddon('better_sqlite3'));`,
      }));
    },
  };
}
