// The one-way dependency rules of eslint.config.js (sources → outbox ← forwarder → session →
// adapters), checked on imports that would break them. The files are virtual, so type-aware
// linting is switched off: the project service refuses a file that is not on disk, and the rule
// under test needs no types.
import assert from 'node:assert/strict';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const RULE = 'no-restricted-imports';

let eslint: ESLint;
let lintMs = 0;
let lints = 0;

before(() => {
  eslint = new ESLint({ cwd: root, overrideConfig: tseslint.configs.disableTypeChecked, ruleFilter: ({ ruleId }) => ruleId === RULE });
});
after(() => console.log(`# ${lints} files linted for import boundaries in ${lintMs.toFixed(0)} ms`));

/** The boundary messages ESLint gives for `source` placed at `filePath` (relative to the repository root). */
async function boundaryMessages(filePath: string, source: string): Promise<string[]> {
  const start = performance.now();
  const [result] = await eslint.lintText(source, { filePath });
  lintMs += performance.now() - start;
  lints += 1;
  assert.ok(result, `no lint result for ${filePath}`);
  const other = result.messages.filter((m) => m.ruleId !== RULE);
  assert.deepEqual(other, [], `${filePath}: unexpected messages`);
  return result.messages.map((m) => m.message);
}

async function assertRefused(filePath: string, specifier: string, why: string): Promise<void> {
  const messages = await boundaryMessages(filePath, `import type { X } from '${specifier}';\nexport type Y = X;\n`);
  assert.equal(messages.length, 1, `${filePath} importing ${specifier} should be refused once, got: ${messages.join(' | ')}`);
  assert.ok(messages[0]?.includes(why), `${filePath} importing ${specifier}: expected "${why}" in: ${messages[0]}`);
}

async function assertAllowed(filePath: string, specifier: string): Promise<void> {
  const messages = await boundaryMessages(filePath, `import type { X } from '${specifier}';\nexport type Y = X;\n`);
  assert.deepEqual(messages, [], `${filePath} importing ${specifier} should be allowed`);
}

describe('adapters', () => {
  const adapter = 'src/cloud/adapters/some-new-adapter.ts';
  const inFolder = 'src/cloud/adapters/some-new-adapter/codec.ts';

  it('refuse the outbox, the forwarder, the session, the pipeline and the agent', async () => {
    await assertRefused(adapter, '../../outbox/outbox.ts', 'An adapter must not import the outbox');
    await assertRefused(inFolder, '../../../outbox/sqlite-outbox.ts', 'An adapter must not import the outbox');
    await assertRefused(adapter, '../forwarder.ts', 'An adapter must not import the forwarder or the session');
    await assertRefused(adapter, '../session.ts', 'An adapter must not import the forwarder or the session');
    await assertRefused(inFolder, '../../session.ts', 'An adapter must not import the forwarder or the session');
    await assertRefused(adapter, '../../pipeline.ts', 'An adapter must not import src/pipeline.ts or src/agent.ts');
    await assertRefused(inFolder, '../../../agent.ts', 'An adapter must not import src/pipeline.ts or src/agent.ts');
  });

  it('refuse re-exports too', async () => {
    const messages = await boundaryMessages(adapter, "export type { Outbox } from '../../outbox/outbox.ts';\n");
    assert.equal(messages.length, 1);
    assert.ok(messages[0]?.includes('An adapter must not import the outbox'));
  });

  it('refuse sockets, timers and files of their own: a credentials part registers through its context', async () => {
    const why = 'An adapter holds no sockets, no timers and no files of its own';
    for (const source of [
      "import mqtt from 'mqtt';\nexport const c = mqtt.connect;\n",
      "import { connect } from 'node:net';\nexport const c = connect;\n",
      "import { request } from 'node:https';\nexport const r = request;\n",
      "import { setTimeout as sleep } from 'node:timers/promises';\nexport const s = sleep;\n",
      "import { readFileSync } from 'node:fs';\nexport const r = readFileSync;\n",
    ]) {
      const messages = await boundaryMessages(inFolder, source);
      assert.equal(messages.length, 1, `${source}: ${messages.join(' | ')}`);
      assert.ok(messages[0]?.includes(why), messages[0]);
    }
    assert.deepEqual(await boundaryMessages(inFolder, "import type { MqttClient } from 'mqtt';\nexport type C = MqttClient;\n"), [], 'mqtt types');
    assert.deepEqual(await boundaryMessages(inFolder, "import { isIP } from 'node:net';\nexport const i = isIP;\n"), [], 'isIP');
  });

  it('may use the adapter contract, messages, commands and their own folder', async () => {
    await assertAllowed(adapter, '../adapter.ts');
    await assertAllowed(adapter, '../message.ts');
    await assertAllowed(adapter, '../../commands/command.ts');
    await assertAllowed(adapter, './some-new-adapter/codec.ts');
    await assertAllowed(inFolder, '../../adapter.ts');
  });
});

describe('sources', () => {
  it('refuse the cloud, the outbox and the commands', async () => {
    const why = 'A source must not import src/cloud/, src/outbox/ or src/commands/';
    await assertRefused('src/sources/some-new-source.ts', '../cloud/message.ts', why);
    await assertRefused('src/sources/some-new-source.ts', '../outbox/outbox.ts', why);
    await assertRefused('src/sources/some-new-source.ts', '../commands/command.ts', why);
    await assertRefused('src/sources/serial/some-new-decoder.ts', '../../cloud/adapters/index.ts', why);
  });

  it('may use their own folder and the shared config and log', async () => {
    await assertAllowed('src/sources/some-new-source.ts', './reading.ts');
    await assertAllowed('src/sources/serial/some-new-decoder.ts', '../source.ts');
    await assertAllowed('src/sources/serial/some-new-decoder.ts', '../../config/primitives.ts');
    await assertAllowed('src/sources/some-new-source.ts', '../log.ts');
  });
});

describe('outbox', () => {
  const store = 'src/outbox/some-new-store.ts';

  it('refuses the cloud and the sources beyond reading.ts', async () => {
    await assertRefused(store, '../cloud/forwarder.ts', 'The outbox must not import src/cloud/');
    await assertRefused(store, '../cloud/adapters/azure.ts', 'The outbox must not import src/cloud/');
    await assertRefused(store, '../sources/source.ts', 'The outbox must not import src/sources/ beyond the Reading types');
    await assertRefused(store, '../sources/serial/serial-line.ts', 'The outbox must not import src/sources/ beyond the Reading types');
  });

  it('may use the Reading types and its own files', async () => {
    await assertAllowed(store, '../sources/reading.ts');
    await assertAllowed(store, './outbox.ts');
    await assertAllowed(store, '../log.ts');
  });
});

describe('config', () => {
  const why = 'src/config/ is the floor';
  const primitive = 'src/config/some-new-primitive.ts';

  it('refuses every module above it, the root schema, the agent and the pipeline', async () => {
    await assertRefused(primitive, '../sources/index.ts', why);
    await assertRefused(primitive, '../outbox/config.ts', why);
    await assertRefused(primitive, '../cloud/adapters/index.ts', why);
    await assertRefused(primitive, '../commands/config.ts', why);
    await assertRefused(primitive, '../health/config.ts', why);
    await assertRefused(primitive, '../cli/main.ts', why);
    await assertRefused(primitive, '../agent-config/schema.ts', why);
    await assertRefused(primitive, '../agent.ts', why);
    await assertRefused('src/config/some-folder/part.ts', '../../pipeline.ts', why);
    await assertRefused(primitive, '../update/config.ts', why);
    await assertRefused(primitive, '../status/snapshot.ts', why);
    await assertRefused(primitive, '../service/sd-notify.ts', why);
    await assertRefused(primitive, '../destination.ts', why);
  });

  it('may use its own files, the errors and the log', async () => {
    await assertAllowed(primitive, './locate.ts');
    await assertAllowed(primitive, '../errors.ts');
    await assertAllowed(primitive, '../log.ts');
  });
});

describe('cli', () => {
  const why = 'The CLI must not reach into one adapter';

  it("refuses an adapter's own folder", async () => {
    await assertRefused('src/cli/some-new-command.ts', '../cloud/adapters/xyte/registration.ts', why);
    await assertRefused('src/cli/some-new-command.ts', '../cloud/adapters/azure/sas-token.ts', why);
    await assertRefused('src/cli/doctor/some-new-check.ts', '../../cloud/adapters/alibaba/sign.ts', why);
    await assertRefused('src/cli/some-new-command.ts', '../cloud/adapters/xyte.ts', why);
    await assertRefused('src/cli/doctor/some-new-check.ts', '../../cloud/adapters/mqtt.ts', why);
  });

  it('may use the adapter registry', async () => {
    await assertAllowed('src/cli/some-new-command.ts', '../cloud/adapters/index.ts');
    await assertAllowed('src/cli/doctor/some-new-check.ts', '../../cloud/adapters/index.ts');
  });

  it('holds for register.ts too: registration goes through the registry (the credentials seam)', async () => {
    await assertRefused('src/cli/register.ts', '../cloud/adapters/xyte/registration.ts', why);
    await assertRefused('src/cli/register.ts', '../cloud/adapters/azure/sas-token.ts', why);
    await assertAllowed('src/cli/register.ts', '../cloud/adapters/index.ts');
  });
});

describe('update', () => {
  const why = 'src/update/ must not import src/cloud/';
  it('refuses the cloud, the outbox, commands, sources and the CLI', async () => {
    await assertRefused('src/update/some-new-step.ts', '../cloud/session.ts', why);
    await assertRefused('src/update/some-new-step.ts', '../outbox/outbox.ts', why);
    await assertRefused('src/update/some-new-step.ts', '../commands/command.ts', why);
    await assertRefused('src/update/some-new-step.ts', '../sources/reading.ts', why);
    await assertRefused('src/update/some-new-step.ts', '../cli/main.ts', why);
  });
  it('may use its own files, the config floor, the log and the version', async () => {
    await assertAllowed('src/update/some-new-step.ts', './state.ts');
    await assertAllowed('src/update/some-new-step.ts', '../config/write.ts');
    await assertAllowed('src/update/some-new-step.ts', '../log.ts');
    await assertAllowed('src/update/some-new-step.ts', '../version.ts');
  });
});
