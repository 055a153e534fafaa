// systemd/edge-agent.service passes `systemd-analyze verify` cleanly and its sandbox rates 2.5 or
// better in `systemd-analyze security`. verify checks that ExecStart exists, so both run on a
// temp copy whose ExecStart points at a stand-in file.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const UNIT = resolve(import.meta.dirname, '../../systemd/edge-agent.service');
const dir = mkdtempSync(join(tmpdir(), 'edge-agent-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const analyze = await run('systemd-analyze', ['--version']).then(
  () => true,
  () => false,
);

function unitCopy(): string {
  const binary = join(dir, 'edge-agent');
  writeFileSync(binary, '#!/bin/sh\n');
  chmodSync(binary, 0o755);
  const text = readFileSync(UNIT, 'utf8');
  assert.match(text, /^ExecStart=\/usr\/local\/bin\/edge-agent run /m, 'the unit starts the binary install.sh installs');
  const copy = join(dir, 'edge-agent.service');
  writeFileSync(copy, text.replace('/usr/local/bin/edge-agent', binary));
  return copy;
}

test('systemd-analyze verify prints nothing', { skip: !analyze && 'systemd-analyze not installed' }, async () => {
  const { stdout, stderr } = await run('systemd-analyze', ['verify', unitCopy()]);
  assert.equal(stderr, '');
  assert.equal(stdout, '');
});

test('systemd-analyze security rates the exposure 2.5 or lower', { skip: !analyze && 'systemd-analyze not installed' }, async () => {
  const { stdout } = await run('systemd-analyze', ['security', '--offline=yes', unitCopy()]);
  const match = /Overall exposure level for edge-agent\.service: (\d+(?:\.\d+)?)/.exec(stdout);
  assert.ok(match, stdout.slice(-500));
  assert.ok(Number(match[1]) <= 2.5, `exposure ${match[1]}`);
});

test('the unit keeps what the agent relies on', () => {
  const text = readFileSync(UNIT, 'utf8');
  for (const line of ['Type=notify', 'NotifyAccess=all', 'Restart=on-failure', 'SupplementaryGroups=dialout', 'CacheDirectory=edge-agent', 'StateDirectory=edge-agent', 'ReadWritePaths=/etc/edge-agent']) {
    assert.match(text, new RegExp(`^${line}$`, 'm'), line);
  }
  assert.match(text, /^WatchdogSec=\d+s$/m);
  // V8 generates machine code at run time: this would kill the agent at start.
  assert.doesNotMatch(text, /^MemoryDenyWriteExecute=yes/m);
});
