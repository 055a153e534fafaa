// Appends at full speed to a real outbox and prints "start <seq>" then "committed <seq>" after
// every commit, until it is killed. stdout to a pipe is synchronous on Linux, so a line the parent
// reads was written before the kill.
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { outboxConfig, silentLog } from './outbox-files.ts';

const dataDir = process.argv[2]!;
const outbox = openOutbox({ dataDir, agentId: 'crash', config: outboxConfig({ commitBatch: 500, commitInterval: '20ms' }), log: silentLog() });
outbox.onCommit((seq) => process.stdout.write(`committed ${seq}\n`));
let first = true;
const burst = () => {
  for (let i = 0; i < 200; i++) {
    const seq = outbox.append({ sensorId: `s${i % 3}`, ts: Date.now(), values: { i } });
    if (first) {
      process.stdout.write(`start ${seq}\n`);
      first = false;
    }
  }
  setImmediate(burst);
};
burst();
