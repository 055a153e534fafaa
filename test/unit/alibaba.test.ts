import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import { commandNameOf, propertyIdentifier } from '../../src/cloud/adapters/alibaba/alink.ts';
import { parseClientId, signPassword } from '../../src/cloud/adapters/alibaba/sign.ts';
import { ClockNotSynchronizedError } from '../../src/cloud/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';

function adapter(cloud: Record<string, unknown> = {}, synced = true) {
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'alibaba', productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: '0123456789abcdef0123456789abcdef', regionId: 'cn-shanghai', ...cloud } }));
  if (config.cloud.provider !== 'alibaba') throw new Error('expected alibaba');
  return createAdapter(config.cloud, { agentId: 'gw', agentVersion: '0', dataDir: '/tmp', log: captureLog().log, now: () => 1_700_000_000_000, clockSynchronized: () => synced });
}

describe('alibaba signing', () => {
  it('reproduces both worked examples of clouds.md', () => {
    assert.equal(signPassword('hmacsha1', 'secret', { clientId: '12345', deviceName: 'device', productKey: 'pk', timestamp: '789' }).toUpperCase(), 'FAFD82A3D602B37FB0FA8B7892F24A477F851A14');
    assert.equal(signPassword('hmacsha256', '0123456789abcdef0123456789abcdef', { clientId: 'a1B2c3D4e5F.gw-001', deviceName: 'gw-001', productKey: 'a1B2c3D4e5F', timestamp: '1700000000000' }), '0725e5b94091ef113da2e60123b8145574fac1c25a5a49da0b284b5678e2d483');
  });
  it('connects with the signed clientId, username and password; securemode follows the transport', async () => {
    const options = await adapter().connectOptions();
    assert.equal(options.url, 'mqtts://a1B2c3D4e5F.iot-as-mqtt.cn-shanghai.aliyuncs.com:1883');
    assert.equal(options.clientId, 'a1B2c3D4e5F.gw-001|securemode=2,signmethod=hmacsha256,timestamp=1700000000000|');
    assert.equal(options.username, 'gw-001&a1B2c3D4e5F');
    assert.equal(options.password, '0725e5b94091ef113da2e60123b8145574fac1c25a5a49da0b284b5678e2d483');
    assert.equal(parseClientId((await adapter({ transport: 'tcp' }).connectOptions()).clientId)!.params.securemode, '3');
    assert.equal(parseClientId((await adapter({ transport: 'ws', endpoint: 'iot-06z00x.mqtt.iothub.aliyuncs.com' }).connectOptions()).clientId)!.params.securemode, '3');
    await assert.rejects(adapter({}, false).connectOptions(), ClockNotSynchronizedError);
  });
  it('keeps keepalive within 30-1200 s in the schema', () => {
    assert.throws(() => adapter({ keepalive: 20 }), /cloud\.keepalive/);
    assert.throws(() => adapter({ keepalive: 1500 }), /cloud\.keepalive/);
  });
});

describe('alink', () => {
  it('posts each reading as a property post with per-value times and its seq as id', () => {
    const { messages } = adapter().encodeTelemetry([{ id: 'x', seq: 42, sensorId: 'boiler-1', ts: 1000, values: { temp: 21.5, on: true, nothing: null } }]);
    assert.equal(messages[0]!.topic, '/sys/a1B2c3D4e5F/gw-001/thing/event/property/post');
    assert.deepEqual(JSON.parse(messages[0]!.payload as string), { id: '42', version: '1.0', params: { boiler_1_temp: { value: 21.5, time: 1000 }, boiler_1_on: { value: true, time: 1000 } }, method: 'thing.event.property.post' });
    assert.equal(propertyIdentifier('a.b', 'c-d'), 'a_b_c_d');
  });
  it('maps service identifiers to commands and answers with {id, code, data}', () => {
    assert.equal(commandNameOf('config_get'), 'config.get');
    assert.equal(commandNameOf('script_reset_modem'), 'script.reset_modem');
    const a = adapter();
    const [action] = a.decodeIncoming({ topic: '/sys/a1B2c3D4e5F/gw-001/thing/service/sensor_read', payload: Buffer.from('{"id":"7","version":"1.0.0","params":{"sensor":"s"},"method":"thing.service.sensor_read"}') });
    if (action?.kind !== 'command') return assert.fail('no command');
    assert.equal(action.command.name, 'sensor.read');
    const [reply] = a.encodeReply(action.command, { ok: false, status: 404, message: 'no sensor' });
    assert.equal(reply!.topic, '/sys/a1B2c3D4e5F/gw-001/thing/service/sensor_read_reply');
    assert.deepEqual(JSON.parse(reply!.payload as string), { id: '7', code: 404, data: {}, message: 'no sensor' });
    const [bad] = a.decodeIncoming({ topic: '/sys/a1B2c3D4e5F/gw-001/thing/service/ping', payload: Buffer.from('{"id":"8",') });
    assert.equal(bad?.kind, 'reply');
    const [refusedPost] = a.decodeIncoming({ topic: '/sys/a1B2c3D4e5F/gw-001/thing/event/property/post_reply', payload: Buffer.from('{"id":"9","code":6106,"message":"too many properties"}') });
    assert.equal(refusedPost?.kind, 'notice');
  });
});
