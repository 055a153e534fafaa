// The credentials seam (src/cloud/credentials/): the device store, and the supervised adapter that runs
// a cloud's credentials part behind connectOptions and onAuthRejected, with a fake cloud.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import type { AdapterContext, AdapterDefinition, CloudAdapter } from '../../src/cloud/adapter.ts';
import type { CredentialsPart } from '../../src/cloud/credentials/credentials-part.ts';
import { deviceStore } from '../../src/cloud/credentials/device-store.ts';
import { RegistrationError } from '../../src/cloud/credentials/registration-error.ts';
import { registerWith, superviseCredentials } from '../../src/cloud/credentials/supervised-adapter.ts';
import { CredentialsUnavailableError } from '../../src/cloud/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';

const root = mkdtempSync(join(tmpdir(), 'edge-agent-credentials-seam-'));
after(() => rmSync(root, { recursive: true, force: true }));
const freshDir = () => mkdtempSync(join(root, 'd-'));

describe('device store', () => {
  it('writes 0600 atomically, sets aside and restores, and treats damaged or huge files as absent', () => {
    const dir = freshDir();
    const store = deviceStore(dir);
    assert.equal(store.read('c.json'), undefined);
    store.write('c.json', { id: 'a' });
    assert.equal(statSync(join(dir, 'c.json')).mode & 0o777, 0o600);
    assert.deepEqual(store.read('c.json'), { id: 'a' });
    store.setAside('c.json');
    assert.deepEqual(readdirSync(dir), ['c.refused.json']);
    assert.deepEqual(store.readSetAside('c.json'), { id: 'a' });
    store.restore('c.json');
    assert.deepEqual(readdirSync(dir), ['c.json']);
    store.setAside('c.json');
    store.write('c.json', { id: 'b' });
    assert.deepEqual(readdirSync(dir), ['c.json'], 'a new write drops the set-aside copy');
    writeFileSync(join(dir, 'bad.json'), '{"half');
    assert.equal(store.read('bad.json'), undefined);
    writeFileSync(join(dir, 'huge.json'), JSON.stringify({ pad: 'x'.repeat(300 * 1024) }));
    assert.equal(store.read('huge.json'), undefined);
  });
  it('writes nothing when read-only', () => {
    const dir = freshDir();
    deviceStore(dir).write('c.json', { id: 'a' });
    const ro = deviceStore(dir, { readOnly: true });
    ro.write('c.json', { id: 'b' });
    ro.write('other.json', { id: 'b' });
    ro.setAside('c.json');
    assert.deepEqual(readdirSync(dir), ['c.json']);
    assert.deepEqual(ro.read('c.json'), { id: 'a' });
  });
});

/** A fake self-registering cloud: credentials are a device id; `answers` says what each registration does. */
function fakeCloud(answers: ('ok' | 'unreachable' | 'refused')[], given?: string) {
  const calls: string[] = [];
  const schema = z.object({ provider: z.literal('fake') });
  const part: CredentialsPart<unknown, string> = {
    cloud: 'Fake',
    kept: 'device id',
    resolve(_config, ctx) {
      if (given) return Promise.resolve({ credentials: given, source: 'config' });
      const stored = ctx.store.read('fake.json') as { id?: string } | undefined;
      return Promise.resolve(stored?.id ? { credentials: stored.id, source: 'stored' } : undefined);
    },
    register(_config, ctx) {
      const answer = answers.shift() ?? 'ok';
      calls.push(`register:${answer}`);
      if (answer === 'unreachable') return Promise.reject(new RegistrationError('cannot reach fake', 'unreachable'));
      if (answer === 'refused') return Promise.reject(new RegistrationError('HTTP 409', 'duplicate', 409));
      const id = `dev-${calls.length}`;
      ctx.store.write('fake.json', { id });
      return Promise.resolve(id);
    },
    refused(_config, ctx, refused) {
      calls.push(`refused:${refused.source}:${refused.credentials}`);
      if (refused.source === 'stored') ctx.store.setAside('fake.json');
      return Promise.resolve();
    },
    backoff: () => ({ minMs: 1000, maxMs: 4000, jitter: 0 }),
    failure: (_config, error) => `Fake registration failed: ${error.message}`,
    describe: (_config, id) => ({ deviceId: id, endpoint: 'mqtts://fake' }),
  };
  const definition: AdapterDefinition<typeof schema, string> = {
    provider: 'fake',
    configSchema: schema,
    linkFacts: () => ({ url: 'mqtts://fake', credentials: 'the id', verifyCertificates: true }),
    credentials: part,
    create(_config, _ctx, held): CloudAdapter {
      return {
        provider: 'fake',
        maxMessageBytes: 1000, defaultLingerMs: 0,
        connectOptions: () => Promise.resolve({ url: 'mqtts://fake', clientId: held!.current()!, protocolVersion: 4, keepaliveSeconds: 60 }),
        subscriptions: () => [],
        encodeTelemetry: () => ({ messages: [], rejected: [] }),
        decodeIncoming: () => [],
        encodeReply: () => [],
      };
    },
  };
  return { definition, calls };
}

function context(dir: string, clock: { now: number }, readOnly = false): AdapterContext {
  return { agentId: 'gw', agentVersion: '0', dataDir: dir, log: captureLog().log, now: () => clock.now, clockSynchronized: () => true, ...(readOnly ? { readOnly } : {}) };
}

describe('supervised adapter', () => {
  it('registers when nothing is kept, retrying with the shared backoff, and hands the credentials to the adapter', async () => {
    const { definition, calls } = fakeCloud(['unreachable', 'unreachable', 'ok']);
    const clock = { now: 0 };
    const adapter = superviseCredentials(definition, { provider: 'fake' }, context(freshDir(), clock));
    const delays: number[] = [];
    for (let i = 0; i < 2; i++) {
      await assert.rejects(adapter.connectOptions(), (error: unknown) => {
        assert.ok(error instanceof CredentialsUnavailableError);
        assert.match(error.message, /^Fake registration failed: cannot reach fake; retrying in \d+ s$/);
        delays.push(error.retryAfterMs);
        return true;
      });
    }
    assert.deepEqual(delays, [1000, 2000]);
    assert.equal((await adapter.connectOptions()).clientId, 'dev-3');
    assert.equal((await adapter.connectOptions()).clientId, 'dev-3', 'kept, not registered again');
    assert.deepEqual(calls, ['register:unreachable', 'register:unreachable', 'register:ok']);
  });
  it('sets stored credentials aside when refused (not right after registering), then registers again', async () => {
    const { definition, calls } = fakeCloud(['ok', 'ok']);
    const clock = { now: 0 };
    const adapter = superviseCredentials(definition, { provider: 'fake' }, context(freshDir(), clock));
    await adapter.connectOptions();
    await adapter.onAuthRejected!();
    assert.deepEqual(calls, ['register:ok'], 'just registered: no hammering');
    clock.now += 1000;
    await adapter.onAuthRejected!();
    assert.equal((await adapter.connectOptions()).clientId, 'dev-3');
    assert.deepEqual(calls, ['register:ok', 'refused:stored:dev-1', 'register:ok']);
  });
  it('reports refused credentials from the config once per outage, and never registers', async () => {
    const { definition, calls } = fakeCloud([], 'given-id');
    const adapter = superviseCredentials(definition, { provider: 'fake' }, context(freshDir(), { now: 0 }));
    await adapter.connectOptions();
    await adapter.onAuthRejected!();
    await adapter.onAuthRejected!();
    adapter.onConnected!();
    await adapter.onAuthRejected!();
    assert.deepEqual(calls, ['refused:config:given-id', 'refused:config:given-id']);
  });
  it('read-only (doctor): never registers, writes nothing, says how to register', async () => {
    const { definition, calls } = fakeCloud(['ok']);
    const dir = freshDir();
    const adapter = superviseCredentials(definition, { provider: 'fake' }, context(dir, { now: 0 }, true));
    await assert.rejects(adapter.connectOptions(), /not registered with Fake yet \(no device id in .*\): .*edge-agent register/);
    await adapter.onAuthRejected!();
    assert.deepEqual(calls, []);
    assert.deepEqual(readdirSync(dir), []);
  });
  it('register: registers, then finds what is kept; a refusal keeps its kind for the exit code', async () => {
    const { definition } = fakeCloud(['ok', 'refused']);
    const dir = freshDir();
    const ctx = context(dir, { now: 0 });
    assert.deepEqual(await registerWith(definition.credentials, { provider: 'fake' }, ctx), { needed: true, deviceId: 'dev-1', endpoint: 'mqtts://fake', source: 'registered' });
    assert.deepEqual(await registerWith(definition.credentials, { provider: 'fake' }, ctx), { needed: true, deviceId: 'dev-1', endpoint: 'mqtts://fake', source: 'stored' });
    await assert.rejects(registerWith(definition.credentials, { provider: 'fake' }, context(freshDir(), { now: 0 })), (error: unknown) => error instanceof RegistrationError && error.refusal === 'duplicate' && /Fake registration failed: HTTP 409/.test(error.message));
    assert.deepEqual(await registerWith(undefined, {}, ctx), { needed: false });
  });
});
