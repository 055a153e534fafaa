import assert from 'node:assert/strict';
import { test } from 'node:test';
import { brokerAddress } from '../../src/cloud/mqtt-options.ts';

test('broker URLs become mqtt.js options without the legacy url.parse()', () => {
  assert.deepEqual(brokerAddress('mqtts://hub.example.com:8883'), { protocol: 'mqtts', host: 'hub.example.com', port: 8883 });
  assert.deepEqual(brokerAddress('mqtt://10.0.0.5'), { protocol: 'mqtt', host: '10.0.0.5' });
  assert.deepEqual(brokerAddress('mqtt://[::1]:1884'), { protocol: 'mqtt', host: '::1', port: 1884 });
  assert.deepEqual(brokerAddress('wss://hub.example.com/$iothub/websocket?iothub-no-client-cert=true'), { protocol: 'wss', host: 'hub.example.com', path: '/$iothub/websocket?iothub-no-client-cert=true' });
});
