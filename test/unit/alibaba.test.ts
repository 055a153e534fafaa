import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/agent-config/load.ts';
import { createAdapter } from '../../src/cloud/adapters/index.ts';
import { commandNameOf, propertyIdentifier } from '../../src/cloud/adapters/alibaba/alink.ts';
import { parseClientId, signPassword } from '../../src/cloud/adapters/alibaba/sign.ts';
import { ClockNotSynchronizedError } from '../../src/cloud/errors.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { batchPostProblem } from '../emulators/alibaba/alibaba-emulator.ts';

function adapter(cloud: Record<string, unknown> = {}, synced = true) {
  const { config } = parseConfigText(JSON.stringify({ cloud: { provider: 'alibaba', productKey: 'a1B2c3D4e5F', deviceName: 'gw-001', deviceSecret: '0123456789abcdef0123456789abcdef', regionId: 'cn-shanghai', ...cloud } }));
  if (config.cloud.provider !== 'alibaba') throw new Error('expected alibaba');
  return createAdapter(config.cloud, { agentId: 'gw', agentVersion: '0', dataDir: '/tmp', log: captureLog().log, now: () => 1_700_000_000_000, clockSynchronized: () => synced });
}

describe('alibaba signing', () => {
  // The signing rule and the hmacsha1 example (clientId 12345, deviceName device, productKey pk,
  // timestamp 789, secret "secret"): https://help.aliyun.com/document_detail/73742.html (in English:
  // https://www.alibabacloud.com/help/doc-detail/73742.htm). The hmacsha256 value is the same rule
  // applied to this file's device: HMAC-SHA256(secret, "clientId…deviceName…productKey…timestamp…").
  it('signs the documented hmacsha1 example, and this device with hmacsha256 by the same rule', () => {
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
  it('batches readings into one thing.event.property.batch.post, each value with its own time', () => {
    const { messages } = adapter().encodeTelemetry([
      { id: 'x', seq: 42, sensorId: 'boiler-1', ts: 1000, values: { temp: 21.5, on: true, nothing: null } },
      { id: 'y', seq: 43, sensorId: 'boiler-2', ts: 1005, values: { temp: 30 } },
      { id: 'z', seq: 44, sensorId: 'boiler-1', ts: 2000, values: { temp: 21.6, on: false } },
    ]);
    assert.equal(messages.length, 1);
    assert.equal(messages[0]!.topic, '/sys/a1B2c3D4e5F/gw-001/thing/event/property/batch/post');
    const body = JSON.parse(messages[0]!.payload as string) as Record<string, unknown>;
    assert.deepEqual(body, {
      id: '4200003',
      version: '1.0',
      params: { properties: { boiler_1_temp: [{ value: 21.5, time: 1000 }, { value: 21.6, time: 2000 }], boiler_1_on: [{ value: true, time: 1000 }, { value: false, time: 2000 }], boiler_2_temp: [{ value: 30, time: 1005 }] } },
      method: 'thing.event.property.batch.post',
    });
    assert.equal(batchPostProblem(body, 1000), undefined, 'the emulator takes it');
    assert.match(batchPostProblem({ ...body, params: { properties: { boiler_1_temp: [{ value: 1 }] } } }, 1000) ?? '', /integer time/, 'and refuses a malformed batch');
    assert.match(batchPostProblem({ ...body, id: 42 }, 1000) ?? '', /decimal string/);
  });
  it('with batchPost off, posts each reading as a property post with per-value times and its seq as id', () => {
    const { messages } = adapter({ batchPost: false }).encodeTelemetry([{ id: 'x', seq: 42, sensorId: 'boiler-1', ts: 1000, values: { temp: 21.5, on: true, nothing: null } }]);
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
