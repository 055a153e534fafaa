// The SEA main script. Node 24 runs only a CommonJS main script from the blob (ESM entry points
// arrived in Node 25.7), so this launcher imports the bundled ES module from a data: URL.
// Data URLs may import node: built-ins, which is all the bundle imports.
import { BUNDLE_NAME } from './bundle.ts';

export function launcherSource(): string {
  return `'use strict';
const { getAsset } = require('node:sea');
const source = Buffer.from(getAsset(${JSON.stringify(BUNDLE_NAME)}));
import('data:text/javascript;base64,' + source.toString('base64')).catch((error) => {
  process.stderr.write('edge-agent: cannot start: ' + ((error && error.stack) || error) + '\\n');
  process.exit(70);
});
`;
}
