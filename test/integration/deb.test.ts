// The Debian package (scripts/build-deb.ts), built from a fresh x64 binary and installed with dpkg
// into a throwaway root: files, owners and modes, the conffile kept across an upgrade, remove and
// purge, and lintian. Opt-in like binary.test.ts, as it builds the binary (~15 s) and two packages:
//   EDGE_AGENT_BINARY_TEST=1 npx node --test test/integration/deb.test.ts
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { makeDpkgRoot } from '../helpers/dpkg-root.ts';
import { AGENT_VERSION } from '../../src/version.ts';

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '../..');
const BUILD_DEB = join(ROOT, 'scripts/build-deb.ts');
const enabled = process.env.EDGE_AGENT_BINARY_TEST === '1';
const isRoot = process.getuid?.() === 0;
const onPath = (name: string) => ['/usr/bin', '/bin', '/usr/sbin'].some((dir) => existsSync(join(dir, name)));
const EXEC_START = 'ExecStart=/usr/bin/edge-agent run --config /etc/edge-agent/agent.config.json';

const skip = !enabled ? 'set EDGE_AGENT_BINARY_TEST=1 to build the binary and the package' : !onPath('dpkg-deb') && 'dpkg-deb not installed (Debian or Ubuntu only)';
describe('Debian package', { skip }, () => {
  const work = mkdtempSync(join(tmpdir(), 'edge-agent-deb-'));
  const bin = join(work, 'bin');
  const debs = join(work, 'debs');
  const deb = (version: string) => join(debs, `edge-agent_${version}_amd64.deb`);
  const extracted = join(work, 'extracted');
  // dpkg-deb's default xz takes 35-70 s for a 130 MB binary here, gzip -1 ~4 s; what is tested is
  // the package's contents and scripts, not its compression.
  const fastCompression = { ...process.env, DPKG_DEB_COMPRESSOR_TYPE: 'gzip', DPKG_DEB_COMPRESSOR_LEVEL: '1' };
  const buildDeb = (...args: string[]) => run(process.execPath, [BUILD_DEB, ...args], { cwd: ROOT, env: fastCompression });

  before(async () => {
    await run(process.execPath, [join(ROOT, 'scripts/build-binary.ts'), '--target', 'linux-x64', '--out', bin], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
    // The same binary twice: an upgrade needs a newer version, not different bytes.
    for (const version of ['0.1.0', '0.1.1']) await buildDeb('--binaries', bin, '--out', debs, '--arch', 'amd64', '--version', version);
    await run('dpkg-deb', ['-x', deb('0.1.0'), extracted]);
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  test('control fields and conffiles', async () => {
    const field = async (name: string) => (await run('dpkg-deb', ['--field', deb('0.1.0'), name])).stdout.trim();
    assert.equal(await field('Package'), 'edge-agent');
    assert.equal(await field('Version'), '0.1.0');
    assert.equal(await field('Architecture'), 'amd64');
    assert.equal(await field('Section'), 'admin');
    assert.match(await field('Depends'), /^libc6 \(>= 2\.34\)/);
    const installedKiB = Number(await field('Installed-Size'));
    assert.ok(installedKiB * 1024 >= statSync(join(extracted, 'usr/bin/edge-agent')).size, 'Installed-Size covers the binary');
    const info = (await run('dpkg-deb', ['--info', deb('0.1.0')])).stdout;
    for (const member of ['control', 'conffiles', 'md5sums', 'postinst', 'prerm', 'postrm']) assert.match(info, new RegExp(`^ +\\d+ bytes, +\\d+ lines +\\*? *${member}\\b`, 'm'), member);
    const conffiles = (await run('sh', ['-c', `dpkg-deb --ctrl-tarfile '${deb('0.1.0')}' | tar -xO ./conffiles`])).stdout;
    assert.equal(conffiles, '/etc/edge-agent/agent.config.json\n', "dpkg keeps a technician's edits to the config on upgrade");
  });

  test('contents: where each file goes, owned by root, with its mode', async () => {
    const contents = (await run('dpkg-deb', ['--contents', deb('0.1.0')])).stdout;
    const entry = (path: string) => contents.split('\n').find((line) => line.endsWith(` ./${path}`)) ?? assert.fail(`${path} not in the package:\n${contents}`);
    assert.match(entry('usr/bin/edge-agent'), /^-rwxr-xr-x root\/root /);
    for (const path of ['usr/lib/systemd/system/edge-agent.service', 'usr/lib/sysusers.d/edge-agent.conf', 'etc/edge-agent/agent.config.json', 'usr/share/doc/edge-agent/copyright', 'usr/share/doc/edge-agent/changelog.gz', 'usr/share/man/man1/edge-agent.1.gz', 'usr/share/lintian/overrides/edge-agent']) {
      assert.match(entry(path), /^-rw-r--r-- root\/root /, path);
    }
    assert.doesNotMatch(contents, /usr\/local|var\/lib\/edge-agent/, 'nothing in /usr/local; the data dir is made by postinst, owned by the agent');
  });

  test("the unit is the repository's, with ExecStart at the packaged binary", () => {
    const original = readFileSync(join(ROOT, 'systemd/edge-agent.service'), 'utf8').split('\n');
    const packaged = readFileSync(join(extracted, 'usr/lib/systemd/system/edge-agent.service'), 'utf8').split('\n');
    assert.equal(packaged.length, original.length);
    const changed = packaged.filter((line, i) => line !== original[i]);
    assert.deepEqual(changed, ['# Installed by the edge-agent package. Local changes belong in a drop-in:', EXEC_START]);
  });

  test("the service user and the starter config are install.sh's; the binary accepts the config", async () => {
    const sysusers = readFileSync(join(extracted, 'usr/lib/sysusers.d/edge-agent.conf'), 'utf8');
    assert.match(sysusers, /^u edge-agent - "edge-agent sensor gateway" \/var\/lib\/edge-agent \/usr\/sbin\/nologin$/m);
    assert.match(sysusers, /^m edge-agent dialout$/m);
    const configFile = join(extracted, 'etc/edge-agent/agent.config.json');
    const config = readFileSync(configFile, 'utf8');
    assert.match(config, /"dataDir": "\/var\/lib\/edge-agent"/);
    assert.match(config, /"url": "mqtt:\/\/127\.0\.0\.1:1883"/);
    assert.match(config, /"type": "simulated"/);
    const packagedBinary = join(extracted, 'usr/bin/edge-agent');
    assert.ok((await run(packagedBinary, ['version'])).stdout.startsWith(`edge-agent ${AGENT_VERSION} `), 'the binary as built, whatever --version named the package');
    const check = await run(packagedBinary, ['check-config', '--config', configFile], { env: { ...process.env, EDGE_AGENT_CACHE_DIR: join(work, 'cache') } });
    assert.match(check.stdout, /^OK /);
  });

  test('install, upgrade, remove and purge in a throwaway root', { skip: !isRoot && 'needs root (postinst chowns to the service user)' }, async () => {
    const root = makeDpkgRoot(work);
    const at = (path: string) => join(root.dir, path);
    const status = async () => (await root.dpkgOk('--status', 'edge-agent')).match(/^(Status|Version): .*$/gm)?.join('; ');
    const passwd = () => readFileSync(at('etc/passwd'), 'utf8');

    const installed = await root.dpkgOk('--install', deb('0.1.0'));
    assert.match(installed, /starter config \/etc\/edge-agent\/agent\.config\.json/);
    assert.equal(await status(), 'Status: install ok installed; Version: 0.1.0');
    assert.match(passwd(), /^edge-agent:x:\d+:\d+:.*:\/var\/lib\/edge-agent:\/usr\/sbin\/nologin$/m);
    assert.match(readFileSync(at('etc/group'), 'utf8'), /^dialout:x:\d+:edge-agent$/m, 'the service user is in dialout');
    const uid = Number(/^edge-agent:x:(\d+):/m.exec(passwd())![1]);
    const gid = Number(/^edge-agent:x:(\d+):/m.exec(readFileSync(at('etc/group'), 'utf8'))![1]);
    const owner = (path: string) => {
      const stats = statSync(at(path));
      return `${stats.uid}:${stats.gid} ${(stats.mode & 0o777).toString(8)}`;
    };
    assert.equal(owner('usr/bin/edge-agent'), '0:0 755');
    assert.equal(owner('var/lib/edge-agent'), `${uid}:${gid} 750`);
    assert.equal(owner('var/cache/edge-agent'), `${uid}:${gid} 700`);
    assert.equal(owner('etc/edge-agent'), `0:${gid} 770`, 'the agent renames a rewritten config into place');
    assert.equal(owner('etc/edge-agent/agent.config.json'), `0:${gid} 640`, 'the config may hold credentials: not world-readable');
    const wants = at('etc/systemd/system/multi-user.target.wants/edge-agent.service');
    if (onPath('deb-systemd-helper')) assert.equal(readlinkSync(wants), '/usr/lib/systemd/system/edge-agent.service', 'enabled, inside the root');

    // A technician edits the config; the outbox holds unsent readings.
    const config = at('etc/edge-agent/agent.config.json');
    const edited = readFileSync(config, 'utf8').replace('"interval": "10s"', '"interval": "30s"');
    writeFileSync(config, edited);
    writeFileSync(at('var/lib/edge-agent/outbox.db'), 'unsent readings');

    // stdin is closed: a conffile question would fail the upgrade, not wait for an answer.
    await root.dpkgOk('--install', deb('0.1.1'));
    assert.equal(await status(), 'Status: install ok installed; Version: 0.1.1');
    assert.equal(readFileSync(config, 'utf8'), edited, 'an edited config survives an upgrade');
    assert.equal(owner('etc/edge-agent/agent.config.json'), `0:${gid} 640`);
    assert.equal(readFileSync(at('var/lib/edge-agent/outbox.db'), 'utf8'), 'unsent readings');
    assert.equal(passwd().match(/^edge-agent:/gm)?.length, 1, 'the user is not created twice');

    await root.dpkgOk('--remove', 'edge-agent');
    assert.equal(await status(), 'Status: deinstall ok config-files; Version: 0.1.1');
    assert.ok(!existsSync(at('usr/bin/edge-agent')));
    assert.ok(!existsSync(at('usr/lib/systemd/system/edge-agent.service')));
    assert.equal(readFileSync(config, 'utf8'), edited, 'remove keeps the config');
    assert.ok(existsSync(at('var/lib/edge-agent/outbox.db')), 'remove keeps the outbox');

    // The agent's backup of a config it rewrote is not dpkg's: purge removes it all the same.
    writeFileSync(`${config}.bak`, '{}');
    await root.dpkgOk('--purge', 'edge-agent');
    assert.match((await root.dpkg('--status', 'edge-agent')).output, /not installed|not-installed/);
    for (const gone of ['etc/edge-agent', 'var/lib/edge-agent', 'var/cache/edge-agent']) assert.ok(!existsSync(at(gone)), `purge removes ${gone}`);
    assert.equal(lstatSync(wants, { throwIfNoEntry: false }), undefined, 'purge forgets the service was enabled');
    assert.match(passwd(), /^edge-agent:/m, 'the system user stays, as Debian packages keep theirs');
  });

  test('lintian finds no errors', { skip: !onPath('lintian') && 'lintian not installed (scripts/test.sh installs it)' }, async (t) => {
    const lintian = await run('lintian', ['--tag-display-limit', '0', '--fail-on', 'error', deb('0.1.0')], { maxBuffer: 4 * 1024 * 1024 }).catch((error: { code: number; stdout: string; stderr: string }) =>
      assert.fail(`lintian exited with ${error.code}:\n${error.stdout}${error.stderr}`),
    );
    assert.deepEqual(lintian.stdout.split('\n').filter((line) => line.startsWith('E: ')), []);
    if (lintian.stdout.trim()) t.diagnostic(`lintian:\n${lintian.stdout.trim()}`);
  });

  test('a stale binary is refused unless --version asks for the version', async () => {
    const stale = join(work, 'stale');
    mkdirSync(stale);
    const fake = join(stale, 'edge-agent-linux-x64');
    writeFileSync(fake, '#!/bin/sh\necho "edge-agent 0.0.9 (node v24.0.0, linux-x64)"\n');
    chmodSync(fake, 0o755);
    await assert.rejects(buildDeb('--binaries', stale, '--out', join(work, 'stale-out'), '--arch', 'amd64'), (error: { stderr: string }) =>
      /reports version 0\.0\.9, but src\/version\.ts says .*rebuild with npm run build:binary/.test(error.stderr),
    );
    await assert.rejects(buildDeb('--binaries', stale, '--out', join(work, 'stale-out'), '--arch', 'arm64'), (error: { stderr: string }) => /no .*edge-agent-linux-arm64/.test(error.stderr));
  });
});

