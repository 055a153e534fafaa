import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideLaunch, type Self } from '../../src/update/launch-decision.ts';
import type { UpdateState } from '../../src/update/state.ts';

const sha = (c: string) => c.repeat(64);
const launcherPath = '/usr/local/bin/edge-agent';
const b = { version: '0.2.0', path: '/var/lib/edge-agent/update/versions/edge-agent-0.2.0-bbbbbbbbbbbb', sha256: sha('b') };
const c = { version: '0.3.0', path: '/var/lib/edge-agent/update/versions/edge-agent-0.3.0-cccccccccccc', sha256: sha('c') };
const fingerprint = { version: '0.1.0', size: 1000, mtimeMs: 5 };
const requester = { destination: 'cloud', command: { id: 'u1', name: 'agent.update', origin: 'mqtt', replyTo: { topic: 'r' } } };

function self(path = launcherPath, present: string[] = [b.path, c.path]): Self {
  return { path, version: path === launcherPath ? '0.1.0' : path === b.path ? '0.2.0' : '0.3.0', fingerprint, exists: (p) => present.includes(p), now: 1000 };
}
const base: UpdateState = { format: 1, reports: [] };
const trial = (starts: number, previous?: typeof b) => ({ ...b, from: '0.1.0', confirmWithinMs: 60_000, starts, requester, ...(previous ? { previous } : {}) });

describe('which binary `run` becomes', () => {
  it('runs itself when nothing is installed, writing nothing', () => {
    assert.deepEqual(decideLaunch(base, self()), { action: { kind: 'run', asTrial: false } });
  });

  it('starts a trial once: the start is recorded before the exec', () => {
    const decision = decideLaunch({ ...base, trial: trial(0) }, self());
    assert.deepEqual(decision.action, { kind: 'exec', path: b.path });
    assert.equal(decision.next?.trial?.starts, 1);
    assert.deepEqual(decision.next?.launcher, fingerprint);
  });

  it('the trial binary runs as the trial', () => {
    assert.deepEqual(decideLaunch({ ...base, trial: trial(1) }, self(b.path)).action, { kind: 'run', asTrial: true });
  });

  it('meeting a started trial again means it failed: rolled back to the launcher, the failure owed to the cloud that asked', () => {
    const decision = decideLaunch({ ...base, launcher: fingerprint, trial: trial(1) }, self());
    assert.deepEqual(decision.action, { kind: 'run', asTrial: false });
    assert.equal(decision.next?.trial, undefined);
    assert.equal(decision.next?.active, undefined);
    assert.equal(decision.next?.last?.outcome, 'rolled-back');
    assert.equal(decision.next?.reports.length, 1);
    assert.equal(decision.next?.reports[0]!.result.ok, false);
    assert.match(decision.next.reports[0].result.message!, /update to 0\.2\.0 rolled back/);
  });

  it('a failed trial of C over an installed B goes back to B', () => {
    const decision = decideLaunch({ ...base, launcher: fingerprint, active: b, trial: { ...trial(1, b), ...c } }, self());
    assert.deepEqual(decision.action, { kind: 'exec', path: b.path });
    assert.deepEqual(decision.next?.active, b);
  });

  it('a trial whose file vanished is rolled back without an exec', () => {
    const decision = decideLaunch({ ...base, trial: trial(0) }, self(launcherPath, []));
    assert.deepEqual(decision.action, { kind: 'run', asTrial: false });
    assert.match(decision.next!.last!.message!, /missing/);
  });

  it('execs the confirmed update; the update itself just runs', () => {
    assert.deepEqual(decideLaunch({ ...base, launcher: fingerprint, active: b }, self()), { action: { kind: 'exec', path: b.path } });
    assert.deepEqual(decideLaunch({ ...base, launcher: fingerprint, active: b }, self(b.path)).action, { kind: 'run', asTrial: false });
  });

  it('a launcher replaced by hand since (install.sh, a package) wins over the remote update', () => {
    const decision = decideLaunch({ ...base, launcher: { ...fingerprint, size: 999 }, active: b }, self());
    assert.deepEqual(decision.action, { kind: 'run', asTrial: false });
    assert.equal(decision.next?.active, undefined);
    assert.equal(decision.next?.last?.outcome, 'superseded');
  });

  it('an installed update that vanished from the card: the launcher runs itself and says so', () => {
    const decision = decideLaunch({ ...base, launcher: fingerprint, active: b }, self(launcherPath, []));
    assert.deepEqual(decision.action, { kind: 'run', asTrial: false });
    assert.equal(decision.next?.active, undefined);
    assert.equal(decision.note?.event, 'update-missing');
  });
});
