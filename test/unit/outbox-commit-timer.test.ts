// The outbox's commit timer on a fake clock: readings are committed (one transaction, one fsync)
// when commitInterval has passed, not before, and not one by one. A real SQLite file.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeClock } from '../helpers/fake-clock.ts';
import { open, tempDataDir } from '../helpers/outbox-files.ts';

describe('outbox commit timer', () => {
  it('commits what was appended once commitInterval has passed on the clock it is given', async (t) => {
    const clock = new FakeClock();
    const outbox = open(tempDataDir(t), { commitInterval: '5s', commitBatch: 1000 }, { timers: clock });
    const commits: number[] = [];
    outbox.onCommit((seq) => commits.push(seq));
    for (let i = 0; i < 10; i++) outbox.append({ sensorId: 's', ts: clock.now(), values: { n: i } });
    await clock.advance(4999);
    assert.deepEqual(commits, [], 'nothing committed before commitInterval');
    assert.equal(outbox.stats().committedSeq, 0);
    await clock.advance(1);
    assert.deepEqual(commits, [10], 'all ten in one commit');
    assert.equal(outbox.stats().pending, 10);
    outbox.close();
  });
});
