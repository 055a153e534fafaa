// Each cloud's emulator refuses a malformed batch (the rules they apply to what the agent sends),
// and takes what the adapters make. Xyte's rules run inside its emulator: test/integration/xyte*.
import assert from 'node:assert/strict';
import { inflateSync, deflateSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { decodeCompact, encodeCompact } from '../../src/cloud/adapters/mqtt/compact.ts';
import { batchPostProblem } from '../emulators/alibaba/alibaba-emulator.ts';
import { telemetryBatchProblem } from '../emulators/azure/azure-emulator.ts';
import { checkWaylayPayload } from '../emulators/waylay/payload-rules.ts';

describe('emulators refuse malformed batches', () => {
  it('azure: a JSON array of readings with id, seq, sensor, ts and values', () => {
    assert.equal(telemetryBatchProblem([{ id: 'gw-e-1', seq: 1, sensor: 's', ts: 1, values: {} }]), undefined);
    assert.match(telemetryBatchProblem([]) ?? '', /non-empty JSON array/);
    assert.match(telemetryBatchProblem({ id: 'x' }) ?? '', /non-empty JSON array/);
    assert.match(telemetryBatchProblem([{ id: 'gw-e-1', seq: 1, sensor: 's', ts: 1 }]) ?? '', /lacks/);
  });

  it('alibaba: batch post with decimal id, method, and {value, time} lists', () => {
    const good = { id: '100003', version: '1.0', method: 'thing.event.property.batch.post', params: { properties: { s_t: [{ value: 1, time: 1000 }] } } };
    assert.equal(batchPostProblem(good, 1000), undefined);
    assert.match(batchPostProblem({ ...good, method: 'thing.event.property.post' }, 1000) ?? '', /method/);
    assert.match(batchPostProblem({ ...good, params: { properties: { s_t: [] } } }, 1000) ?? '', /non-empty array/);
    assert.match(batchPostProblem({ ...good, params: { properties: { 's-t': [{ value: 1, time: 1000 }] } } }, 1000) ?? '', /identifier/);
  });

  it('waylay: an array of objects, not an empty one, not garbage', () => {
    assert.deepEqual(checkWaylayPayload(Buffer.from('[]'), 'r').problems, ['payload is an empty array']);
    assert.deepEqual(checkWaylayPayload(Buffer.from('[{"resource":"r"'), 'r').problems, ['payload is not JSON']);
    assert.ok(checkWaylayPayload(Buffer.from('[1, 2]'), 'r').problems.length > 0);
  });

  it('generic compact: a consumer decoding it refuses a wrong version or a broken stream', () => {
    const { messages } = encodeCompact([{ id: 'gw-e-1', seq: 1, sensorId: 's', ts: 1, values: { t: 1 } }], 't', 4096);
    assert.equal(decodeCompact(messages[0]!.payload as Buffer, inflateSync).length, 1);
    assert.throws(() => decodeCompact(deflateSync('{"v":2,"idPrefix":"","blocks":[]}'), inflateSync), /version 2/);
    assert.throws(() => decodeCompact(Buffer.from('not deflate'), inflateSync));
  });
});
