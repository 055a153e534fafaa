// Power-cut stand-in: a child appending at full speed is SIGKILLed again and again. Every reading
// it reported committed must be there afterwards, and seq must stay unique and increasing.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { openOutbox } from '../../src/outbox/sqlite-outbox.ts';
import { outboxConfig, silentLog, tempDataDir } from '../helpers/outbox-files.ts';

const CHILD = join(import.meta.dirname, '../helpers/outbox-crash-child.ts');

async function runAndKill(dataDir: string, commitsBeforeKill: number): Promise<{ start: number; committed: number }> {
  const child = spawn(process.execPath, [CHILD, dataDir], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  let commits = 0;
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    out += chunk;
    commits += chunk.split('committed').length - 1;
    if (commits >= commitsBeforeKill) child.kill('SIGKILL');
  });
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  assert.equal(signal, 'SIGKILL', `the child exited by itself (code ${code}): ${out.slice(-500)}`);
  // Reads what was already in the pipe.
  if (!child.stdout.readableEnded) await once(child.stdout, 'end');
  const start = Number(/^start (\d+)$/m.exec(out)?.[1]);
  const committed = Math.max(...[...out.matchAll(/^committed (\d+)$/gm)].map((m) => Number(m[1])));
  assert.ok(start > 0 && committed >= start, `start ${start}, committed ${committed}`);
  return { start, committed };
}

test('readings reported committed survive SIGKILL, 10 times; seq stays unique and increasing', async (t) => {
  const dataDir = tempDataDir(t);
  let previousMax = 0;
  for (let round = 0; round < 10; round++) {
    const { start, committed } = await runAndKill(dataDir, 3 + ((round * 7) % 11));
    assert.ok(start > previousMax, `round ${round}: seq restarted at ${start}, but ${previousMax} was already stored`);
    // Opened as the agent opens it after a power cut: the journal is replayed into the table.
    const outbox = openOutbox({ dataDir, agentId: 'crash', config: outboxConfig(), log: silentLog() });
    try {
      const seqs: number[] = [];
      for (let lease = outbox.lease({ max: 10_000, from: 'oldest' }); lease; lease = outbox.lease({ max: 10_000, from: 'oldest' })) seqs.push(...lease.entries.map((e) => e.seq));
      const present = seqs.filter((seq) => seq >= start && seq <= committed).length;
      assert.equal(present, committed - start + 1, `round ${round}: readings ${start}..${committed} were reported committed`);
      assert.equal(new Set(seqs).size, seqs.length, 'no seq twice');
      previousMax = seqs.reduce((max, seq) => Math.max(max, seq), previousMax);
    } finally {
      outbox.close();
    }
  }
});
