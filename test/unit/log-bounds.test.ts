// The logger bounds every string it writes, so no call site can log unbounded network input.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_LOG_STRING_CHARS } from '../../src/log.ts';
import { captureLog } from '../helpers/capture-log.ts';

describe('log bounds', () => {
  it('cuts long messages, fields, nested fields, arrays and error messages', () => {
    const { log, lines } = captureLog();
    const huge = 'h'.repeat(128 * 1024);
    log.warn({ event: 'e', name: huge, nested: { deeper: { key: huge } }, list: Array.from({ length: 10_000 }, () => huge), err: new Error(huge) }, `refused ${huge}`);
    log.info(huge);
    assert.equal(lines.length, 2);
    for (const line of lines) assert.ok(JSON.stringify(line).length < 200 * 1024, `a ${JSON.stringify(line).length}-character line`);
    const first = lines[0] as { msg: string; name: string; nested: { deeper: { key: string } }; list: unknown[]; err: { message: string; type: string } };
    assert.ok(first.msg.length < MAX_LOG_STRING_CHARS + 40);
    assert.match(first.name, /… \(131072 characters\)$/);
    assert.ok(first.nested.deeper.key.length < MAX_LOG_STRING_CHARS + 40);
    assert.ok(first.list.length <= 51);
    assert.ok(first.err.message.length < MAX_LOG_STRING_CHARS + 40);
    assert.equal(first.err.type, 'Error');
  });
  it('leaves short lines alone and still redacts secrets', () => {
    const { log, lines } = captureLog();
    log.info({ event: 'e', password: 'hunter2', cloud: { token: 'abc' }, n: 1 }, 'short');
    assert.equal(lines[0]!.msg, 'short');
    assert.equal(lines[0]!.password, '[redacted]');
    assert.deepEqual(lines[0]!.cloud, { token: '[redacted]' });
  });
});
