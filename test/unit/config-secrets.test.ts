// Secrets are read in one step after validation (src/config/resolve-secrets.ts): parsing itself
// reads no file, and a secret file is bounded (a regular file of at most 64 KB).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { checkConfigObject, parseConfigText } from '../../src/agent-config/load.ts';
import { MAX_SECRET_FILE_BYTES } from '../../src/config/resolve-secrets.ts';
import { secret, type Secret } from '../../src/config/primitives.ts';
import { ConfigError } from '../../src/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'edge-agent-secrets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const withPassword = (password: unknown) => JSON.stringify({ cloud: { provider: 'mqtt', url: 'mqtt://x', password } }, null, 2);

function problemOf(text: string): { path: string; line?: number; column?: number; message: string } {
  try {
    parseConfigText(text);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    assert.equal(error.problems.length, 1, error.message);
    return error.problems[0]!;
  }
  assert.fail('expected the config to be refused');
}

describe('config: secrets are resolved after validation', () => {
  it('parses a {file} or {env} secret without reading it', () => {
    const parsed = secret().parse({ file: join(dir, 'does-not-exist') });
    assert.equal(parsed.source, `file ${join(dir, 'does-not-exist')}`);
    assert.throws(() => parsed.reveal(), /not resolved/);
    const config = checkConfigObject(JSON.parse(withPassword({ env: 'EDGE_AGENT_TEST_SURELY_UNSET' })), 'test');
    assert.throws(() => (config.cloud as { password?: Secret }).password!.reveal(), /not resolved/);
  });

  it('reads a {file} secret, trailing newline removed', () => {
    const file = join(dir, 'password');
    writeFileSync(file, 'from-a-file\n');
    const { config } = parseConfigText(withPassword({ file }));
    assert.equal((config.cloud as { password?: Secret }).password!.reveal(), 'from-a-file');
  });

  it('reports an unreadable, empty or unset secret at its path', () => {
    const missing = join(dir, 'missing');
    assert.deepEqual(problemOf(withPassword({ file: missing })), { path: 'cloud.password', line: 5, column: 17, message: `expected a readable secret file, found ENOENT reading ${missing}` });
    const empty = join(dir, 'empty');
    writeFileSync(empty, '\n');
    assert.equal(problemOf(withPassword({ file: empty })).message, `expected the secret in ${empty}, found an empty file`);
    assert.equal(problemOf(withPassword({ env: 'EDGE_AGENT_TEST_SURELY_UNSET' })).message, 'expected environment variable EDGE_AGENT_TEST_SURELY_UNSET to hold the secret, found it unset or empty');
  });

  it('refuses a device, a fifo, a directory or a file over 64 KB instead of reading it', () => {
    assert.match(problemOf(withPassword({ file: '/dev/zero' })).message, /expected the secret in a regular file, found a character device at \/dev\/zero/);
    const fifo = join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    assert.match(problemOf(withPassword({ file: fifo })).message, /found a fifo/);
    const folder = join(dir, 'folder');
    mkdirSync(folder);
    assert.match(problemOf(withPassword({ file: folder })).message, /found EISDIR/);
    const large = join(dir, 'large');
    writeFileSync(large, 'x'.repeat(MAX_SECRET_FILE_BYTES + 1));
    assert.match(problemOf(withPassword({ file: large })).message, /expected a secret file of at most 64KB, found 65537 bytes in/);
  });
});
