import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { azureAdapter } from '../../src/cloud/adapters/azure.ts';
import { Inbox } from '../../src/cloud/inbox.ts';
import type { OutgoingMessage } from '../../src/cloud/message.ts';
import { Dispatcher } from '../../src/commands/dispatcher.ts';
import { configPushRefusal } from '../../src/destination.ts';
import { captureLog } from '../helpers/capture-log.ts';

const KEY = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

/** An Azure destination's inbox fed a twin patch with an agent config, as the hub sends it. */
async function pushConfig(configPushRefusal: string | undefined) {
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'azure', connectionString: `HostName=myhub.azure-devices.net;DeviceId=device1;SharedAccessKey=${KEY}` } }));
  if (config.cloud.provider !== 'azure') throw new Error('expected azure');
  const { log, lines } = captureLog();
  const adapter = azureAdapter.create(config.cloud, { agentId: 'gw', agentVersion: '0', dataDir: '/tmp', log, now: () => 1_699_996_400_000, clockSynchronized: () => true });
  const session = new EventEmitter();
  const sent: OutgoingMessage[] = [];
  const applied: unknown[] = [];
  const inbox = new Inbox({
    session,
    adapter,
    dispatcher: new Dispatcher({ handlers: [], allow: [], timeoutMs: 1000, log }),
    replies: { send: (messages) => sent.push(...messages) },
    applyConfigChange: (patch) => {
      applied.push(patch);
      return Promise.resolve({ applied: true });
    },
    configPushRefusal,
    log,
  });
  inbox.start();
  session.emit('message', { topic: '$iothub/twin/PATCH/properties/desired/?$version=8', payload: Buffer.from('{"edgeAgent":{"agent":{"logLevel":"debug"}},"$version":8}') });
  await new Promise((resolve) => setImmediate(resolve));
  inbox.stop();
  const reported = sent.map((m) => JSON.parse(m.payload.toString()) as { edgeAgent?: { lastConfigChange?: { applied: boolean; message: string | null } } });
  return { applied, reported, lines };
}

describe('cloud config pushes and the destination allow list', () => {
  it('a single cloud applies its pushes whatever commands.allow says (configs in the field rely on it)', async () => {
    assert.equal(configPushRefusal({}, 'cloud', ['ping']), undefined);
    const { applied, reported } = await pushConfig(undefined);
    assert.deepEqual(applied, [{ agent: { logLevel: 'debug' } }]);
    assert.equal(reported[0]?.edgeAgent?.lastConfigChange?.applied, true);
  });

  it('with several destinations, one whose allow list lacks config.set has its push refused and told why', async () => {
    const clouds = { clouds: [] };
    assert.equal(configPushRefusal(clouds, 'hub', ['ping', 'config.set']), undefined);
    const refusal = configPushRefusal(clouds, 'plant', ['ping']);
    assert.equal(refusal, `destination 'plant' may not change the config: add "config.set" to its commands.allow`);
    const { applied, reported, lines } = await pushConfig(refusal);
    assert.deepEqual(applied, [], 'nothing applied');
    assert.deepEqual(reported[0]?.edgeAgent?.lastConfigChange, { version: 8, applied: false, message: refusal });
    assert.equal(lines.filter((l) => l.event === 'config-push-refused').length, 1);
  });
});
