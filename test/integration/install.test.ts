// scripts/install.sh in a throwaway root (--root): install, upgrade, uninstall, purge. The binary
// is a stand-in shell script that answers `version` and `check-config` like the real one.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const INSTALL = resolve(import.meta.dirname, '../../scripts/install.sh');
const isRoot = process.getuid?.() === 0;
const work = mkdtempSync(join(tmpdir(), 'edge-agent-install-'));
after(() => rmSync(work, { recursive: true, force: true }));

function fakeBinary(version: string): string {
  const file = join(work, `edge-agent-${version}`);
  writeFileSync(file, `#!/bin/sh\ncase "$1" in version) echo "edge-agent ${version}";; check-config) exit 0;; esac\n`);
  chmodSync(file, 0o755);
  return file;
}

const install = (root: string, ...args: string[]) => run('bash', [INSTALL, '--root', root, ...args]);
const passwd = (root: string) => readFileSync(join(root, 'etc/passwd'), 'utf8');

test('install, upgrade, uninstall and purge in a throwaway root', { skip: !isRoot && 'install.sh needs root (it creates a user and chowns)' }, async () => {
  const root = mkdtempSync(join(work, 'root-'));
  const first = await install(root, '--binary', fakeBinary('1.0.0'));
  assert.match(first.stdout, /installed .*edge-agent 1\.0\.0/);

  const bin = join(root, 'usr/local/bin/edge-agent');
  const config = join(root, 'etc/edge-agent/agent.config.json');
  const data = join(root, 'var/lib/edge-agent');
  assert.equal(statSync(bin).mode & 0o777, 0o755);
  assert.ok(existsSync(join(root, 'etc/systemd/system/edge-agent.service')));
  assert.match(passwd(root), /^edge-agent:x:\d+:\d+:.*:\/var\/lib\/edge-agent:\/usr\/sbin\/nologin$/m);
  assert.match(readFileSync(join(root, 'etc/group'), 'utf8'), /^dialout:x:\d+:edge-agent$/m, 'the service user is in dialout');
  const uid = Number(/^edge-agent:x:(\d+):/m.exec(passwd(root))![1]);
  assert.equal(statSync(data).uid, uid);
  assert.equal(statSync(data).mode & 0o777, 0o750);
  assert.equal(statSync(config).mode & 0o777, 0o660, 'config holds credentials: not world-readable');
  assert.match(readFileSync(config, 'utf8'), /"provider": "mqtt"/);

  // A technician edits the config; the outbox has unsent readings.
  writeFileSync(config, '{ "edited": true }\n');
  writeFileSync(join(data, 'outbox.db'), 'unsent readings');
  const supplied = join(work, 'supplied.json');
  writeFileSync(supplied, '{ "supplied": true }\n');

  const second = await install(root, '--binary', fakeBinary('1.1.0'), '--config', supplied);
  assert.match(second.stdout, /upgraded .*edge-agent 1\.1\.0/);
  assert.match(second.stdout, /keeping the existing config/);
  assert.match(readFileSync(bin, 'utf8'), /1\.1\.0/);
  assert.equal(readFileSync(config, 'utf8'), '{ "edited": true }\n', 'an existing config is never overwritten');
  assert.equal(readFileSync(join(data, 'outbox.db'), 'utf8'), 'unsent readings');
  assert.equal(passwd(root).match(/^edge-agent:/gm)?.length, 1, 'the user is not created twice');

  await install(root, '--uninstall');
  assert.ok(!existsSync(bin));
  assert.ok(!existsSync(join(root, 'etc/systemd/system/edge-agent.service')));
  assert.ok(!existsSync(join(root, 'var/cache/edge-agent')));
  assert.ok(existsSync(config), 'uninstall keeps the config');
  assert.ok(existsSync(join(data, 'outbox.db')), 'uninstall keeps the data');

  await install(root, '--uninstall', '--purge');
  assert.ok(!existsSync(join(root, 'etc/edge-agent')));
  assert.ok(!existsSync(data));
  assert.doesNotMatch(passwd(root), /^edge-agent:/m);
});

test('a binary that cannot run here is refused before anything is written', { skip: !isRoot && 'needs root' }, async () => {
  const root = mkdtempSync(join(work, 'root-'));
  const broken = join(work, 'broken');
  writeFileSync(broken, '#!/bin/sh\necho "cannot execute binary file: Exec format error" >&2\nexit 126\n');
  chmodSync(broken, 0o755);
  await assert.rejects(install(root, '--binary', broken), (error: { stderr: string }) => /does not run on this machine/.test(error.stderr));
  assert.ok(!existsSync(join(root, 'usr')));
  assert.ok(!existsSync(join(root, 'etc/passwd')));
});

test('unknown options are refused with usage', async () => {
  await assert.rejects(run('bash', [INSTALL, '--frobnicate']), (error: { stderr: string }) => /unknown option: --frobnicate/.test(error.stderr));
});

test('--allow-reboot grants the service user reboot through polkit, and only that; uninstall takes it back', { skip: !isRoot && 'needs root' }, async () => {
  const root = mkdtempSync(join(work, 'root-'));
  const granted = await install(root, '--binary', fakeBinary('1.0.0'), '--allow-reboot');
  assert.match(granted.stdout, /may now reboot the gateway/);
  const ruleFile = join(root, 'etc/polkit-1/rules.d/50-edge-agent-reboot.rules');
  const pklaFile = join(root, 'etc/polkit-1/localauthority/50-local.d/50-edge-agent-reboot.pkla');
  assert.equal(statSync(ruleFile).mode & 0o777, 0o644);
  assert.match(readFileSync(pklaFile, 'utf8'), /^Identity=unix-user:edge-agent$/m);

  // Run the rule as polkit would: it answers for the agent's user and the reboot actions only.
  const rules: ((action: { id: string }, subject: { user: string }) => unknown)[] = [];
  const polkit = { Result: { YES: 'yes' }, addRule: (rule: (typeof rules)[number]) => rules.push(rule) };
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluating the generated polkit rule is the point
  new Function('polkit', readFileSync(ruleFile, 'utf8'))(polkit);
  const decide = (id: string, user: string) => rules.map((rule) => rule({ id }, { user })).find((r) => r !== undefined);
  assert.equal(decide('org.freedesktop.login1.reboot', 'edge-agent'), 'yes');
  assert.equal(decide('org.freedesktop.login1.reboot-multiple-sessions', 'edge-agent'), 'yes');
  assert.equal(decide('org.freedesktop.login1.power-off', 'edge-agent'), undefined);
  assert.equal(decide('org.freedesktop.login1.reboot', 'pi'), undefined);

  const upgraded = await install(root, '--binary', fakeBinary('1.1.0'));
  assert.match(upgraded.stdout, /keeping the reboot permission/);
  await install(root, '--uninstall');
  assert.ok(!existsSync(ruleFile) && !existsSync(pklaFile));
});
