// Issue #16 (4, 5, 6) through the real CLI: `edge-agent check-config` exits 78 with a location for a
// huge, deep or subtly wrong file, never 70 with "Maximum call stack size exceeded".
// Timings (node start included) are printed, never asserted: the machine running the tests is shared.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { CLI, REPO_ROOT } from '../helpers/agent-process.ts';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-check-config-'));
const CLOUD = '"cloud": { "provider": "mqtt", "url": "mqtt://127.0.0.1:1883" }';

async function checkConfig(name: string, text: string | Buffer): Promise<{ code: number; stdout: string; stderr: string; ms: number }> {
  const file = join(dir, name);
  writeFileSync(file, text);
  const start = performance.now();
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, 'check-config', '--config', file], { cwd: REPO_ROOT, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr, ms: performance.now() - start };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr, ms: performance.now() - start };
  }
}

function assertConfigRefusal(r: { code: number; stderr: string }): void {
  assert.equal(r.code, 78, r.stderr);
  assert.doesNotMatch(r.stderr, /Maximum call stack|unexpected error|\n\s+at /);
}

describe('check-config: limits', () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exits 78 with a location on 100,000 "["', async () => {
    const r = await checkConfig('brackets.json', `{\n  "sensors": ${'['.repeat(100_000)}`);
    assertConfigRefusal(r);
    assert.match(r.stderr, /: 1 problem\n {2}\(file\) \(line 2, col 77\): expected at most 64 levels of nested \{ \} and \[ \], found deeper nesting here\n$/);
  });

  it('exits 78 with a location on 60,000 nested objects', async () => {
    const r = await checkConfig('objects.json', `${'{"a":'.repeat(60_000)}1${'}'.repeat(60_000)}`);
    assertConfigRefusal(r);
    assert.match(r.stderr, /\(file\) \(line 1, col 321\): expected at most 64 levels/);
  });

  it('reports a 20,000-problem file in one pass, listing the first 100', async () => {
    const sensors = Array.from({ length: 10_000 }, (_, i) => `{"id":"s${i}","type":"simulated","interval":"fast","colour":1}`);
    const r = await checkConfig('problems.json', `{${CLOUD},\n"sensors":[\n${sensors.join(',\n')}\n]}\n`);
    console.log(`# check-config, 20,000 problems: ${r.ms.toFixed(0)} ms (node start included)`);
    assertConfigRefusal(r);
    const lines = r.stderr.trimEnd().split('\n');
    assert.match(lines[0]!, /problems\.json: 20,000 problems$/);
    assert.equal(lines[1], '  sensors[0].interval (line 3, col 42): expected a duration with a unit such as "30s", "5m" or "1h" between 10ms and 1d, found "fast"');
    assert.equal(lines.length, 102);
    assert.equal(lines.at(-1), '  … and 19,900 more');
  });

  it('reports 10,000 duplicate sensor ids in one pass', async () => {
    const sensors = Array.from({ length: 10_000 }, () => '{ "id": "same", "type": "simulated", "interval": "1s" }');
    const r = await checkConfig('duplicates.json', `{${CLOUD},\n"sensors": [\n${sensors.join(',\n')}\n]}\n`);
    console.log(`# check-config, 10,000 duplicate sensor ids: ${r.ms.toFixed(0)} ms (node start included)`);
    assertConfigRefusal(r);
    assert.match(r.stderr, /: 9,999 problems\n {2}sensors\[1\]\.id \(line 4, col 9\): expected a unique sensor id, found "same" again \(first at sensors\[0\]\)\n/);
    assert.match(r.stderr, /\n {2}… and 9,899 more\n$/);
  });

  it('exits 78 on a file over the size limit', async () => {
    const r = await checkConfig('huge.json', Buffer.alloc(5 * 1024 * 1024, 0x20));
    assertConfigRefusal(r);
    assert.match(r.stderr, /\(file\): expected a config of at most 4MB, found 5MB/);
  });
});

describe('check-config: settings that run would trip on', () => {
  const fixture = (name: string) => join(REPO_ROOT, 'test/fixtures/configs/bad', name);
  const cli = async (file: string) => {
    try {
      await run(process.execPath, [CLI, 'check-config', '--config', file], { cwd: REPO_ROOT });
      return { code: 0, stderr: '' };
    } catch (error) {
      return error as { code: number; stderr: string };
    }
  };

  it('exits 78 on a health port out of range', async () => {
    const r = await cli(fixture('health-port-out-of-range.json'));
    assertConfigRefusal(r);
    assert.match(r.stderr, /health\.http\.listen \(line 3, col 35\): expected a port between 1 and 65535 .*, found "127\.0\.0\.1:99999"/);
  });

  it('exits 78 on a missing TLS file', async () => {
    const r = await cli(fixture('tls-ca-missing.json'));
    assertConfigRefusal(r);
    assert.match(r.stderr, /cloud\.tls\.ca \(line 5, col 20\): expected a PEM file of CA certificates .*, found no file at \/nonexistent\/edge-agent\/ca\.pem/);
  });

  it('exits 78 on a TLS file that is not PEM', async () => {
    const r = await cli(fixture('tls-ca-not-pem.json'));
    assertConfigRefusal(r);
    assert.match(r.stderr, /cloud\.tls\.ca \(line 6, col 20\): expected a PEM file of CA certificates .*, found no PEM block in test\/fixtures\/configs\/ca\.der/);
  });
});
