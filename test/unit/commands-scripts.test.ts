// Scripts run with execFile and whole-argument parameters: injection attempts are refused by the
// pattern or arrive as one plain argument. These run a real program.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { commandsConfigSchema } from '../../src/commands/config.ts';
import { CommandFailure } from '../../src/commands/handler.ts';
import { buildScriptArgs, runScript } from '../../src/commands/script-runner.ts';

const printArgs = join(import.meta.dirname, '../fixtures/scripts/print-args.sh');

function script(params: Record<string, { pattern: string; required?: boolean }>, args: string[]) {
  const config = commandsConfigSchema.parse({ scripts: { probe: { path: printArgs, args, params } } });
  return config.scripts.probe!;
}

const run = (s: ReturnType<typeof script>, params: Record<string, unknown>) => runScript(s, buildScriptArgs('probe', s, params), new AbortController().signal);

describe('scripts', () => {
  it('passes a free-text parameter as exactly one argument, never through a shell', async () => {
    const s = script({ note: { pattern: '.*' } }, ['--note', '{note}']);
    const canary = mkdtempSync(join(tmpdir(), 'edge-agent-canary-'));
    for (const attack of ['; rm -rf /', `$(touch ${canary}/x)`, `\`touch ${canary}/y\``, "' || touch /tmp/z '", '&& reboot', '| cat /etc/shadow']) {
      const result = await run(s, { note: attack });
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, `<--note><${attack}>\n`);
    }
    assert.deepEqual(readdirSync(canary), [], 'a command substitution ran');
    rmSync(canary, { recursive: true, force: true });
  });

  it('refuses values that do not match the pattern in full', () => {
    const s = script({ zone: { pattern: '[0-9]{1,3}' } }, ['{zone}']);
    for (const bad of ['1; rm -rf /', '12\n34', '$(id)', '`id`', '1234', 'abc']) {
      assert.throws(() => buildScriptArgs('probe', s, { zone: bad }), (e: unknown) => e instanceof CommandFailure && e.status === 400, bad);
    }
    assert.deepEqual(buildScriptArgs('probe', s, { zone: 42 }), ['42']);
  });

  it('refuses newlines and NUL even when the pattern would allow them', () => {
    const s = script({ note: { pattern: '[\\s\\S]*' } }, ['{note}']);
    assert.throws(() => buildScriptArgs('probe', s, { note: 'a\nb' }), CommandFailure);
    assert.throws(() => buildScriptArgs('probe', s, { note: 'a\u0000b' }), CommandFailure);
  });

  it('refuses undeclared and missing required parameters', () => {
    const s = script({ zone: { pattern: '[0-9]+', required: true } }, ['{zone}']);
    assert.throws(() => buildScriptArgs('probe', s, { zone: '1', extra: 'x' }), /takes no parameter "extra"/);
    assert.throws(() => buildScriptArgs('probe', s, {}), /needs parameter "zone"/);
  });

  it('reports the exit code and truncates long output', async () => {
    const s = { ...script({ a: { pattern: '.*' } }, ['{a}']), maxOutput: 8 };
    const result = await run(s, { a: 'fail-and-a-long-argument' });
    assert.equal(result.exitCode, 0);
    assert.equal(result.truncated, true);
    assert.equal(result.stdout.length, 8);
    const failing = script({ a: { pattern: '.*' } }, ['{a}']);
    assert.equal((await run(failing, { a: 'fail' })).exitCode, 3);
  });

  it('validates the script config: absolute path and a valid pattern', () => {
    const bad = commandsConfigSchema.safeParse({ scripts: { x: { path: 'relative.sh', params: { p: { pattern: '(' } } } } });
    assert.equal(bad.success, false);
    const paths = (bad as z.ZodSafeParseError<unknown>).error.issues.map((i) => i.path.join('.'));
    assert.deepEqual(paths.sort(), ['scripts.x.params.p.pattern', 'scripts.x.path']);
  });
});
