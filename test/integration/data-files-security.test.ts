// Files in the data dir (issue #16, defects 7 and 8): owner-only whatever the umask, a warning for a
// data dir others can look into, no writing through links planted where a file belongs, and temp
// files for the atomic writes created exclusively. The real agent, real SQLite, real files.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { storeCredentials } from '../../src/cloud/adapters/xyte/registration.ts';
import { replaceConfigFile, writeFileAtomic } from '../../src/config/write.ts';
import { DataDirError } from '../../src/errors.ts';
import { startAgent } from '../helpers/agent-process.ts';
import { startMosquitto, type Mosquitto } from '../helpers/mosquitto.ts';
import { open, recordingLog, tempDataDir } from '../helpers/outbox-files.ts';

const modeOf = (path: string) => (lstatSync(path).mode & 0o777).toString(8);

describe('data files are owner-only', () => {
  let broker: Mosquitto;
  const umask = process.umask();
  before(async () => {
    broker = await startMosquitto();
    // The agent inherits it: as if started by hand from a login shell.
    process.umask(0o022);
  });
  after(async () => {
    process.umask(umask);
    await broker.cleanup();
  });

  it('outbox.db, its journal and every file the agent creates are 0600 with umask 022; a 0755 data dir is warned about', async (t) => {
    const dataDir = join(tempDataDir(t), 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    chmodSync(dataDir, 0o755);
    const agent = startAgent({ agent: { dataDir }, cloud: { provider: 'mqtt', url: broker.url }, sensors: [{ id: 'room', type: 'simulated', interval: '20ms' }] });
    t.after(() => agent.cleanup());
    const warning = await agent.waitForLog((l) => l.event === 'data-dir-open-to-others');
    assert.equal(warning.level, 'warn');
    assert.match(warning.msg, /mode 0755.*chmod o-rwx/);
    await agent.waitForLog((l) => l.event === 'started');
    const files = readdirSync(dataDir);
    for (const name of ['outbox.db', 'outbox.journal']) assert.ok(files.includes(name), `${name} exists while running (${files.join(', ')})`);
    for (const name of files) {
      const stat = lstatSync(join(dataDir, name));
      // The status socket is no file: who may connect is decided by the directory and the socket's write bit.
      if (stat.isSocket()) continue;
      assert.equal(modeOf(join(dataDir, name)), '600', `${name} is owner-only`);
    }
  });

  it('an existing outbox left readable by others is tightened to 0600, with a warning', (t) => {
    const dataDir = tempDataDir(t);
    open(dataDir).close();
    chmodSync(join(dataDir, 'outbox.db'), 0o644);
    const { log, lines } = recordingLog();
    const outbox = open(dataDir, {}, { log });
    t.after(() => outbox.close());
    assert.equal(modeOf(join(dataDir, 'outbox.db')), '600');
    assert.ok(lines.some((l) => l.event === 'outbox-file-tightened'));
  });
});

describe('links planted in the data dir are refused', () => {
  it('the agent refuses a symlinked outbox.db with a clear message and exit 73, and writes nothing through it', async (t) => {
    const dir = tempDataDir(t);
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir);
    const target = join(dir, 'elsewhere.db');
    writeFileSync(target, 'not yours');
    symlinkSync(target, join(dataDir, 'outbox.db'));
    const agent = startAgent({ agent: { dataDir }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 'room', type: 'simulated', interval: '20ms' }] });
    t.after(() => agent.cleanup());
    assert.equal(await agent.exited, 73);
    assert.match(agent.stderr.join(''), /refusing to open the outbox: .*outbox\.db is a symbolic link \(to .*elsewhere\.db\).*rm /);
    assert.equal(readFileSync(target, 'utf8'), 'not yours');
  });

  // The journal is opened by src/outbox/journal.ts, not SQLite: it refuses a non-file with its own
  // message (refuseNonFile), and opens with O_NOFOLLOW besides. A dangling link must not create its target either.
  for (const dangling of [false, true]) {
    it(`the agent refuses a symlinked outbox.journal${dangling ? ' to a file that does not exist' : ''} with exit 73, and writes nothing through it`, async (t) => {
      const dir = tempDataDir(t);
      const dataDir = join(dir, 'data');
      mkdirSync(dataDir);
      const target = join(dir, 'elsewhere.journal');
      if (!dangling) writeFileSync(target, 'not yours');
      const link = join(dataDir, 'outbox.journal');
      symlinkSync(target, link);
      const agent = startAgent({ agent: { dataDir }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1' }, sensors: [{ id: 'room', type: 'simulated', interval: '20ms' }] });
      t.after(() => agent.cleanup());
      assert.equal(await agent.exited, 73);
      assert.ok(agent.stderr.join('').includes(`refusing to open the outbox journal: ${link} is not a regular file (a symbolic link); remove it`), agent.stderr.join(''));
      if (dangling) assert.equal(existsSync(target), false, 'the link target was created');
      else assert.equal(readFileSync(target, 'utf8'), 'not yours');
      assert.equal(readlinkSync(link), target, 'the link itself is left for the operator to remove');
      assert.ok(!agent.logs.some((l) => l.event === 'started'), 'the agent did not start');
    });
  }

  for (const suffix of ['-wal', '-shm']) {
    it(`a symlinked outbox.db${suffix} is refused before SQLite opens anything`, (t) => {
      const dataDir = tempDataDir(t);
      open(dataDir).close();
      const target = join(tempDataDir(t), 'target');
      writeFileSync(target, 'untouched');
      symlinkSync(target, join(dataDir, `outbox.db${suffix}`));
      assert.throws(() => open(dataDir), (error: unknown) => error instanceof DataDirError && error.message.includes(`outbox.db${suffix} is a symbolic link`));
      assert.equal(readFileSync(target, 'utf8'), 'untouched');
    });
  }
});

describe('atomic writes create their temp file exclusively', () => {
  it('a link planted at the temp path is refused and its target untouched (credentials)', (t) => {
    const dataDir = tempDataDir(t);
    const target = join(tempDataDir(t), 'victim');
    writeFileSync(target, 'untouched');
    symlinkSync(target, join(dataDir, `xyte-credentials.json.tmp-${process.pid}`));
    assert.throws(() => storeCredentials(dataDir, { id: 'dev', accessKey: 'k', mqttHubUrl: 'mqtts://hub', sn: 'SN1' }), /refusing to write .*symbolic link/);
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
  });

  it('a temp file left by a crash is replaced; credentials are 0600 whatever the umask', (t) => {
    const dataDir = tempDataDir(t);
    const path = join(dataDir, 'xyte-credentials.json');
    writeFileSync(`${path}.tmp-${process.pid}`, 'half a file from a power cut');
    const umask = process.umask(0o000);
    try {
      storeCredentials(dataDir, { id: 'dev', accessKey: 'k', mqttHubUrl: 'mqtts://hub', sn: 'SN1' });
    } finally {
      process.umask(umask);
    }
    assert.equal((JSON.parse(readFileSync(path, 'utf8')) as { id: string }).id, 'dev');
    assert.equal(modeOf(path), '600');
    assert.deepEqual(readdirSync(dataDir), ['xyte-credentials.json']);
  });

  it('the config backup is not written through a link at <file>.bak, and the config keeps its mode', (t) => {
    const dir = tempDataDir(t);
    const path = join(dir, 'agent.config.json');
    writeFileSync(path, '{"version":1}\n', { mode: 0o600 });
    chmodSync(path, 0o600);
    const target = join(tempDataDir(t), 'victim');
    writeFileSync(target, 'untouched');
    symlinkSync(target, `${path}.bak`);
    assert.equal(replaceConfigFile(path, '{"version":2}\n'), `${path}.bak`);
    assert.equal(readFileSync(target, 'utf8'), 'untouched');
    assert.ok(lstatSync(`${path}.bak`).isFile(), 'the link was replaced by a real file');
    assert.equal(readFileSync(`${path}.bak`, 'utf8'), '{"version":1}\n');
    assert.equal(readFileSync(path, 'utf8'), '{"version":2}\n');
    assert.equal(modeOf(path), '600');
    assert.equal(statSync(path).mode & 0o077, 0);
  });

  it('writeFileAtomic sets the mode it is given exactly', (t) => {
    const path = join(tempDataDir(t), 'f');
    writeFileAtomic(path, 'x', 0o640);
    assert.equal(modeOf(path), '640');
  });
});
