// The binary's addon loader on real files: an addon is unpacked once into a private cache and, on
// later starts, loaded from there without reading the embedded copy again (its pages of the binary
// stay out of memory); a cached file that does not match the binary's checksum is replaced, and a
// damaged embedded copy is refused.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, chmodSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { EmbeddedAddons, MANIFEST_ASSET, NativeAddonError, sha256, type AssetSource } from '../../src/service/native-addons.ts';

function fixture(t: { after: (fn: () => void) => void }, addon = Buffer.from('not really ELF, but bytes')) {
  const cache = mkdtempSync(join(tmpdir(), 'edge-agent-addons-'));
  chmodSync(cache, 0o700);
  t.after(() => rmSync(cache, { recursive: true, force: true }));
  const reads: string[] = [];
  const manifest = { better_sqlite3: { asset: 'addon-1.node', sha256: sha256(Buffer.from('not really ELF, but bytes')) } };
  const assets: AssetSource = {
    getAsset(key) {
      reads.push(key);
      const data = key === MANIFEST_ASSET ? Buffer.from(JSON.stringify(manifest)) : addon;
      return data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
    },
  };
  const loaded: string[] = [];
  const loader = () => new EmbeddedAddons({ assets, env: { EDGE_AGENT_CACHE_DIR: cache }, dlopen: (module, file) => void loaded.push(file) });
  return { cache, reads, loaded, loader };
}

test('unpacks once; a later start loads the cached file without reading the embedded copy', (t) => {
  const f = fixture(t);
  f.loader().load('better_sqlite3');
  assert.deepEqual(f.reads, [MANIFEST_ASSET, 'addon-1.node']);
  f.reads.length = 0;
  f.loader().load('better_sqlite3');
  assert.deepEqual(f.reads, [MANIFEST_ASSET], 'the embedded addon is not read when the cache holds it');
  assert.equal(f.loaded[0], f.loaded[1]);
});

test('a cached file that does not match the checksum is replaced from the binary', (t) => {
  const f = fixture(t);
  f.loader().load('better_sqlite3');
  const [file] = readdirSync(f.cache);
  chmodSync(join(f.cache, file!), 0o600);
  writeFileSync(join(f.cache, file!), 'tampered');
  f.reads.length = 0;
  f.loader().load('better_sqlite3');
  assert.deepEqual(f.reads, [MANIFEST_ASSET, 'addon-1.node']);
});

test('a damaged embedded addon is refused', (t) => {
  const f = fixture(t, Buffer.from('damaged bytes'));
  assert.throws(() => f.loader().load('better_sqlite3'), (error) => error instanceof NativeAddonError && /does not match its checksum/.test(error.message));
});

test('a cached file changed after it was checked (same size, new bytes) is hashed again and replaced', (t) => {
  const f = fixture(t);
  f.loader().load('better_sqlite3');
  const cached = join(f.cache, readdirSync(f.cache).find((n) => n.endsWith('.node'))!);
  assert.ok(readdirSync(f.cache).some((n) => n.endsWith('.node.checked')), 'a checked file is stamped');
  chmodSync(cached, 0o600);
  writeFileSync(cached, Buffer.from('NOT really ELF, but bytes'));
  f.reads.length = 0;
  f.loader().load('better_sqlite3');
  assert.deepEqual(f.reads, [MANIFEST_ASSET, 'addon-1.node'], 'the stamp no longer matches: the copy is checked and replaced');
});
