// What the session hands mqtt.js: the outgoing store keeps only what a PUBACK is matched against,
// never a payload, and offers nothing to send again (every connection is a new client).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IStore } from 'mqtt';
import { toMqttOptions } from '../../src/cloud/mqtt-options.ts';

const options = () => toMqttOptions({ url: 'mqtt://broker.example.com', clientId: 'gw-1', protocolVersion: 4, keepaliveSeconds: 60, persistentSession: true }, 30_000, { clean: false, sessionExpirySeconds: 600, maxIncomingBytes: 1024 * 1024 });

describe('mqtt.js options', () => {
  it('gives every client its own store that keeps no payload', async () => {
    const store = options().outgoingStore as IStore;
    assert.ok(store && store !== options().outgoingStore, 'a new store per client');
    await new Promise<void>((done) => store.put({ cmd: 'publish', messageId: 7, qos: 1, dup: false, retain: false, topic: 't', payload: Buffer.alloc(65_536) }, () => done()));
    const kept = await new Promise((resolve, reject) => store.get({ messageId: 7 }, (error, packet) => (error ? reject(error) : resolve(packet))));
    assert.deepEqual(kept, { cmd: 'publish', messageId: 7 });
    const resent: unknown[] = [];
    for await (const packet of store.createStream()) resent.push(packet);
    assert.deepEqual(resent, [], 'nothing to send again on connect');
    const removed = await new Promise((resolve, reject) => store.del({ messageId: 7 }, (error, packet) => (error ? reject(error) : resolve(packet))));
    assert.deepEqual(removed, { cmd: 'publish', messageId: 7 }, 'the PUBACK finds its entry');
  });
});
