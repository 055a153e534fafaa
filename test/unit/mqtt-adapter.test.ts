import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { mqttAdapter } from '../../src/cloud/adapters/mqtt.ts';
import { captureLog } from '../helpers/capture-log.ts';

function adapter(cloud: Record<string, unknown> = {}) {
  const { config } = parseConfigText(JSON.stringify({ agent: { id: 'gw1' }, cloud: { provider: 'mqtt', url: 'mqtt://127.0.0.1:1883', ...cloud } }));
  if (config.cloud.provider !== 'mqtt') throw new Error('expected the mqtt provider');
  return mqttAdapter.create(config.cloud, { agentId: 'gw1', agentVersion: '0', dataDir: '/tmp', log: captureLog().log, now: Date.now, clockSynchronized: () => true });
}

describe('generic MQTT adapter', () => {
  it('fills topic templates per sensor and sends the documented JSON shape', () => {
    const { messages } = adapter().encodeTelemetry([
      { id: 'gw1-1-1', seq: 1, sensorId: 'boiler', ts: 1000, values: { t: 21.5 } },
      { id: 'gw1-1-2', seq: 2, sensorId: 'pump', ts: 1001, values: { on: true }, clockUnsynced: true },
    ]);
    assert.deepEqual(messages.map((m) => m.topic), ['edge-agent/gw1/telemetry/boiler', 'edge-agent/gw1/telemetry/pump']);
    assert.deepEqual(JSON.parse(messages[0]!.payload as string), [{ id: 'gw1-1-1', seq: 1, sensor: 'boiler', ts: 1000, values: { t: 21.5 } }]);
    assert.equal(JSON.parse(messages[1]!.payload as string)[0].clockUnsynced, true);
  });
  it('decodes a command and replies on the replies topic', () => {
    const a = adapter();
    const [action] = a.decodeIncoming({ topic: 'edge-agent/gw1/commands', payload: Buffer.from('{"id":"7","name":"ping"}') });
    assert.equal(action?.kind, 'command');
    if (action?.kind !== 'command') return;
    const [reply] = a.encodeReply(action.command, { ok: true, status: 200, data: { pong: true } });
    assert.equal(reply!.topic, 'edge-agent/gw1/replies');
    assert.deepEqual(JSON.parse(reply!.payload as string), { id: '7', ok: true, status: 200, data: { pong: true } });
  });
  it('answers garbage with a 400 reply, never an exception', () => {
    const a = adapter();
    for (const payload of ['{', '[]', '"x"', '{"name":"ping"}', '{"id":1}', '\u0000\u00ff']) {
      const actions = a.decodeIncoming({ topic: 'edge-agent/gw1/commands', payload: Buffer.from(payload) });
      assert.equal(actions[0]?.kind, 'reply', payload);
    }
  });
  it('uses the MQTT 5 response topic and correlation data when given', () => {
    const a = adapter({ protocolVersion: 5 });
    const [action] = a.decodeIncoming({ topic: 'edge-agent/gw1/commands', payload: Buffer.from('{"id":"1","name":"ping"}'), properties: { responseTopic: 'app/x', correlationData: Buffer.from('c1') } });
    if (action?.kind !== 'command') return assert.fail('no command');
    const [reply] = a.encodeReply(action.command, { ok: true, status: 200 });
    assert.equal(reply!.topic, 'app/x');
    assert.deepEqual(reply!.properties?.correlationData, Buffer.from('c1'));
  });
});
