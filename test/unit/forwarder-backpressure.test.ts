// The forwarder takes no new lease while what it wrote still waits in this process for the kernel
// (socket backpressure), unless nothing is in flight; a PUBACK pumps again once the queue has gone.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forwarderHarness } from '../helpers/forwarder-harness.ts';

describe('forwarder and socket backpressure', () => {
  it('holds new leases while 64 KB or more wait in the socket, and resumes on the next PUBACK', async (t) => {
    const { clock, transport, session, outbox, forwarder } = forwarderHarness(t, { lingerMs: 0, batchSize: 100 });
    for (let i = 0; i < 5000; i++) outbox.append({ sensorId: 's', ts: clock.now(), values: { i } });
    outbox.flush();
    session.start();
    await clock.advance(10);
    const client = transport.last!;
    client.holdAcks = true;
    client.stream.writableLength = 200_000;
    forwarder.start();
    await clock.advance(1);
    assert.equal(client.published.length, 1, 'one lease goes: nothing was in flight');

    client.releaseAcks();
    await clock.advance(1);
    assert.equal(client.published.length, 2, 'a PUBACK lets one more go while the socket is still backlogged');

    client.stream.writableLength = 0;
    client.releaseAcks();
    await clock.advance(1);
    assert.equal(client.published.length, 2 + 16, 'the queue gone, the window fills to inFlight');

    client.holdAcks = false;
    client.releaseAcks();
    await clock.advance(10);
    const sent = client.published.flatMap((p) => JSON.parse(p.payload.toString()) as { seq: number }[]).map((r) => r.seq);
    assert.deepEqual([...new Set(sent)].sort((a, b) => a - b), Array.from({ length: 5000 }, (_, i) => i + 1), 'every reading went, none lost');
  });
});
