// The README's first quick-start command: readings visibly arrive at the broker it starts.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../helpers/agent-process.ts';

it('npm run demo prints readings arriving at its broker and stops cleanly', { timeout: 60_000 }, async () => {
  // Until three readings arrived (a start under load may take seconds); 40 s at most.
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'scripts/demo.ts'), '--readings', '3', '--seconds', '40'], { cwd: REPO_ROOT, timeout: 50_000 });
  const arrivals = stdout.split('\n').filter((line) => line.startsWith('broker <- edge-agent/demo-gateway/telemetry/room-1'));
  assert.ok(arrivals.length >= 2, `expected readings to arrive, got:\n${stdout}`);
  assert.match(arrivals[0]!, /seq=\d+ {2}temperature=[\d.]+ {2}humidity=[\d.]+/);
  assert.match(stdout, /demo: \d+ readings arrived at the broker; agent exited with 0/);
});
