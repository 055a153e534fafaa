// cloud.linger on a fake clock: live readings wait for others to share their message, a full batch
// goes at once, command replies never wait, and a stored backlog is not held back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { toStoredMessage } from '../../src/cloud/stored-message.ts';
import { forwarderHarness } from '../helpers/forwarder-harness.ts';

async function harness(t: { after: (fn: () => unknown) => void }, lingerMs: number) {
  const { clock, transport, session, outbox, forwarder } = forwarderHarness(t, { lingerMs, batchSize: 500 });
  session.start();
  await clock.advance(10);
  forwarder.start();
  const readingsSent = () => transport.last!.published.filter((p) => p.topic.includes('/telemetry/')).map((p) => (JSON.parse(p.payload.toString()) as unknown[]).length);
  return { clock, transport, outbox, readingsSent };
}

describe('cloud.linger', () => {
  it('holds live readings for the linger, then sends them together', async (t) => {
    const h = await harness(t, 1000);
    for (let i = 0; i < 3; i++) {
      h.outbox.append({ sensorId: 's', ts: h.clock.now(), values: { i } });
      await h.clock.advance(200);
    }
    assert.deepEqual(h.readingsSent(), [], 'nothing before the linger ends');
    await h.clock.advance(500);
    assert.deepEqual(h.readingsSent(), [3], 'one message with the three');
  });

  it('sends a full batch at once, and a command reply without waiting', async (t) => {
    const h = await harness(t, 5000);
    for (let i = 0; i < 500; i++) h.outbox.append({ sensorId: 's', ts: h.clock.now(), values: { i } });
    await h.clock.advance(1);
    assert.deepEqual(h.readingsSent(), [500]);
    h.outbox.appendReserved(toStoredMessage({ topic: 'edge-agent/gw-1/replies', payload: '{"ok":true}', qos: 1 }));
    await h.clock.advance(1);
    assert.ok(h.transport.last!.published.some((p) => p.topic === 'edge-agent/gw-1/replies'), 'the reply went at once');
  });

  it('"0s" sends each reading as it comes', async (t) => {
    const h = await harness(t, 0);
    h.outbox.append({ sensorId: 's', ts: h.clock.now(), values: { i: 1 } });
    await h.clock.advance(1);
    h.outbox.append({ sensorId: 's', ts: h.clock.now(), values: { i: 2 } });
    await h.clock.advance(1);
    assert.deepEqual(h.readingsSent(), [1, 1]);
  });
});
